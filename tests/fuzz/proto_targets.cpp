#include "tests/fuzz/proto_targets.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/proto/frame.hpp"
#include "agent/proto/json.hpp"
#include "agent/proto/route.hpp"
#include "ipam/config.hpp"
#include "lib/cni/config.hpp"
#include "lib/cni/error_json.hpp"
#include "lib/store/paths.hpp"
#include "plugins/common/ipam_client.hpp"

namespace weir::agent::proto::fuzz {

namespace {

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

using Dom = nlohmann::json;
constexpr auto npos = std::string_view::npos;

std::string_view view(Bytes b) {
  return {b.data, b.size};
}
Bytes bytes(std::string_view s) {
  return {s.data(), s.size()};
}

// ---- the JSON reader ----

// json.hpp: nesting deeper than this is invalid.
constexpr int kMaxNesting = 256;

// The deepest nesting of brackets in text, which is valid JSON.
int nesting_of(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// text, which the front end takes and nlohmann refuses, without json.hpp's documented
// differences: bytes above 0x7f in strings become 'a', and each number 0, once checked that
// nlohmann refuses that number only because no double holds it. nlohmann must take the rest.
std::string without_known_differences(std::string_view text) {
  std::string out;
  size_t i = 0;
  if (text.starts_with("\xEF\xBB\xBF")) {  // a byte order mark, which both skip
    out = text.substr(0, 3);
    i = 3;
  }
  bool in_string = false;
  while (i < text.size()) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        out += text.substr(i, 2);
        i += 2;
        continue;
      }
      if (c == '"') in_string = false;
      out += static_cast<unsigned char>(c) > 0x7f ? 'a' : c;
      ++i;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t end = i;
      while (end < text.size() && std::string_view("0123456789+-.eE").find(text[end]) != npos) {
        ++end;
      }
      const std::string number(text.substr(i, end - i));
      if (Dom::parse(number, nullptr, false).is_discarded()) {
        FUZZ_CHECK(!std::isfinite(std::strtod(number.c_str(), nullptr)));
      }
      out += '0';
      i = end;
    } else {
      if (c == '"') in_string = true;
      out += c;
      ++i;
    }
  }
  return out;
}

bool same_kind(const Json& ours, const Dom& theirs) {
  switch (theirs.type()) {
    case Dom::value_t::object:
      return ours.kind == Json::kObject;
    case Dom::value_t::array:
      return ours.kind == Json::kArray;
    case Dom::value_t::string:
      return ours.kind == Json::kString;
    case Dom::value_t::boolean:
      return ours.kind == (theirs.get<bool>() ? Json::kTrue : Json::kFalse);
    case Dom::value_t::null:
      return ours.kind == Json::kNull;
    case Dom::value_t::number_integer:
    case Dom::value_t::number_unsigned:
    case Dom::value_t::number_float:
      return ours.kind == Json::kNumber;
    default:
      return false;
  }
}

// A key member() must not find: one theirs does not have.
void check_absent(const Json& ours, const Dom& theirs, const std::string& key) {
  if (key.find('\0') == npos && theirs.find(key) == theirs.end()) {
    FUZZ_CHECK(ours.member(key.c_str()).kind == Json::kNone);
  }
}

// The same value, read through json.hpp's functions (arrays have none: not entered).
void compare(const Json& ours, const Dom& theirs) {
  FUZZ_CHECK(same_kind(ours, theirs));
  FUZZ_CHECK(ours.empty_object() == (theirs.is_object() && theirs.empty()));
  Text decoded;
  const bool ok = ours.decode(decoded);
  if (theirs.is_string()) {
    const auto& s = theirs.get_ref<const std::string&>();
    FUZZ_CHECK(ok == (s.size() <= Text::kCapacity));
    if (ok) FUZZ_CHECK(view(decoded.bytes()) == s);
    if (s.find('\0') == npos) {
      FUZZ_CHECK(ours.string_equals(s.c_str()));
      FUZZ_CHECK(!ours.string_equals((s + "x").c_str()));
      if (!s.empty()) FUZZ_CHECK(!ours.string_equals(s.substr(0, s.size() - 1).c_str()));
    }
  } else {
    FUZZ_CHECK(!ok && !ours.string_equals(""));
  }
  for (const char* key : {"", "a", "ipam", "type", "dataDir", "cniVersion", "name"}) {
    check_absent(ours, theirs, key);
  }
  if (!theirs.is_object()) return;
  for (const auto& [key, value] : theirs.items()) {
    // Near misses: longer, shorter, cut at a NUL (which a C string key cannot hold).
    check_absent(ours, theirs, key + "x");
    if (!key.empty()) check_absent(ours, theirs, key.substr(0, key.size() - 1));
    if (key.find('\0') != npos) {
      check_absent(ours, theirs, key.substr(0, key.find('\0')));
      continue;
    }
    compare(ours.member(key.c_str()), value);  // the last of duplicates, as theirs keeps
  }
}

// The data dir that `plugin`'s own process opens for this config (lib/cni, then its dataDir
// rules); "" when it refuses the config.
std::string plugin_dir(const Plugin& plugin, std::string_view text) {
  const auto conf = cni::parse_netconf(text);
  if (!conf) return "";
  if (&plugin == &kBridge) {
    const auto dir = plugins::store_dir_of(*conf);  // the bridge's store
    if (!dir) return "";
    return dir->empty() ? std::string(store::kDefaultDataDir) : *dir;
  }
  // weir-ipam: ADD reads its section strictly (ipam::parse_config), DEL and GC leniently
  // (ipam::data_dir_of); where the strict read takes a config, both name the same folder.
  std::string dir = ipam::data_dir_of(*conf);
  return !dir.empty() && dir[0] == '/' ? dir : "";
}

}  // namespace

int json(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Json ours = Json::parse(bytes(text));
  const Dom theirs = Dom::parse(text.begin(), text.end(), nullptr, false);
  const bool ours_ok = ours.kind != Json::kNone;
  const bool theirs_ok = !theirs.is_discarded();

  if (theirs_ok) {
    // nlohmann stops at a NUL byte where a token may start (its end of input, for C strings),
    // which in a document it takes is after the value: the front end reads on, and refuses.
    const std::string_view read = text.substr(0, text.find('\0'));
    if (read.size() < text.size()) FUZZ_CHECK(!ours_ok);
    const Json ours_read = Json::parse(bytes(read));
    // Refused by the front end only when nested too deep.
    FUZZ_CHECK((ours_read.kind != Json::kNone) == (nesting_of(read) <= kMaxNesting));
    if (ours_read.kind != Json::kNone) {
      compare(ours_read, theirs);
      FUZZ_CHECK(version_for_errors(ours_read) == cni::version_for_errors(text));
    }
  } else if (ours_ok) {
    // Taken by the front end only for bytes that are not UTF-8, or a number no double holds.
    const std::string plain = without_known_differences(text);
    const Dom again = Dom::parse(plain, nullptr, false);
    FUZZ_CHECK(!again.is_discarded());
    const Json ours_again = Json::parse(bytes(plain));
    FUZZ_CHECK(ours_again.kind != Json::kNone);
    compare(ours_again, again);
  }

  // The agent a front end picks serves the data dir the plugin would open, or none is picked
  // (the call then runs in the plugin's own process). A config the plugin refuses may go to
  // an agent: it runs the same plugin, which refuses it alike.
  for (const Plugin* plugin : {&kBridge, &kIpam}) {
    Text dir;
    if (!plugin->agent_dir(ours, dir)) continue;
    FUZZ_CHECK(ours.kind == Json::kObject);
    FUZZ_CHECK(dir.size > 0 && dir.data[0] == '/');
    const std::string own = plugin_dir(*plugin, text);
    if (!own.empty()) FUZZ_CHECK(view(dir.bytes()) == own);
  }
  return 0;
}

// ---- the framing ----

namespace {

// std::string as frame.hpp's encoders write.
struct StringOut {
  std::string s;
  bool append(Bytes b) {
    s.append(b.data, b.size);
    return true;
  }
};

bool within(Bytes part, std::string_view whole) {
  return part.size == 0 ||
         (part.data >= whole.data() && part.size <= whole.size() &&
          part.data - whole.data() <= static_cast<std::ptrdiff_t>(whole.size() - part.size));
}

using Vars = std::vector<std::pair<std::string_view, std::string_view>>;

// decode_body on a body: what it hands out lies in the body and says all of it, so that
// encoding it again gives the body back.
bool check_body(std::string_view body, Vars& vars, std::string_view& config) {
  vars.clear();
  Bytes conf;
  const bool ok = decode_body(
      bytes(body),
      [&](Bytes name, Bytes value) {
        FUZZ_CHECK(within(name, body) && within(value, body));
        vars.emplace_back(view(name), view(value));
      },
      conf);
  if (!ok) return false;
  FUZZ_CHECK(within(conf, body));
  config = view(conf);
  std::string again;
  for (const auto& [name, value] : vars) {
    FUZZ_CHECK(name.find('=') == npos && name.find('\0') == npos);
    FUZZ_CHECK(value.find('\0') == npos);
    again.append(name).append("=").append(value).push_back('\0');
  }
  again.push_back('\0');
  again.append(config);
  FUZZ_CHECK(again == body);
  return true;
}

// decode_head on bytes received: a call's fields come from a whole, well-formed header line.
Head check_head(std::string_view in, CallHead& head) {
  const Head h = decode_head(bytes(in), head);
  const size_t eol = in.find('\n');
  if (h == Head::kIncomplete) FUZZ_CHECK(eol == npos && in.size() <= kMaxHeader);
  if (h != Head::kCall) return h;
  FUZZ_CHECK(std::find(std::begin(kPlugins), std::end(kPlugins), head.plugin) !=
             std::end(kPlugins));
  FUZZ_CHECK(eol != npos && eol <= kMaxHeader && head.body_at == eol + 1);
  FUZZ_CHECK(head.body_size <= kMaxBody);
  const std::string_view ns = view(head.namespaces);
  FUZZ_CHECK(within(head.namespaces, in) && ns.find_first_of(" \n") == npos);
  FUZZ_CHECK(head.version >= 1 && head.version <= kVersion);
  const std::string start = std::string(head.plugin->request) + std::to_string(head.version) +
                            " " + std::string(ns) + " ";
  FUZZ_CHECK(in.starts_with(start));
  const std::string digits(in.substr(start.size(), eol - start.size()));
  FUZZ_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == npos);
  FUZZ_CHECK(std::stoul(digits) == head.body_size);
  return h;
}

// A version-2 call's head: encode_run writes "run" for it (and nothing for version 1).
CallHead version2() {
  CallHead head;
  head.version = kVersion;
  return head;
}

// decode_reply: "done" only for a whole header, the fields inside the reply and all of it; after
// "run", anything but a whole "done" (or the hand-back "elsewhere") is cut short.
Reply check_reply(std::string_view in) {
  const Reply r = decode_reply(bytes(in));
  const bool began = in.starts_with(kRun);
  const std::string_view rest = began ? in.substr(length(kRun)) : in;
  FUZZ_CHECK(r.began == began);
  if (began) {
    FUZZ_CHECK((r.kind == Reply::kNotRun) == (rest == kNotRun));
  } else {
    FUZZ_CHECK((r.kind == Reply::kNotRun) == !rest.starts_with("done "));
  }
  if (r.kind != Reply::kDone) return r;
  FUZZ_CHECK(r.exit_code >= 0 && r.exit_code <= 255);
  FUZZ_CHECK(within(r.out, in) && within(r.err, in));
  FUZZ_CHECK(r.err.data == r.out.data + r.out.size &&
             r.err.data + r.err.size == in.data() + in.size());
  // Encoded again, it reads the same.
  StringOut again;
  if (began) FUZZ_CHECK(encode_run(again, version2()));
  FUZZ_CHECK(encode_done(again, r.exit_code, r.out, r.err));
  const Reply r2 = decode_reply(bytes(again.s));
  FUZZ_CHECK(r2.kind == Reply::kDone && r2.exit_code == r.exit_code && r2.began == began);
  FUZZ_CHECK(view(r2.out) == view(r.out) && view(r2.err) == view(r.err));
  return r;
}

// The material of a call and a reply, from the fuzzer's bytes: [0] the plugin and which
// variables are set, [1] the exit code, then NUL-separated: the namespaces, each set
// variable's value, and the config (the rest, NULs and all).
struct Material {
  const Plugin* plugin;
  std::string namespaces;
  std::vector<std::string> values;  // per kCallVariables
  std::vector<bool> set;
  std::string config;
  int exit_code;
};

Material material(std::string_view in) {
  Material m;
  const uint8_t flags = in.size() > 0 ? static_cast<uint8_t>(in[0]) : 0;
  const uint8_t code = in.size() > 1 ? static_cast<uint8_t>(in[1]) : 0;
  in.remove_prefix(std::min<size_t>(in.size(), 2));
  auto field = [&in] {
    const size_t end = std::min(in.find('\0'), in.size());
    std::string f(in.substr(0, end));
    in.remove_prefix(std::min(end + 1, in.size()));
    return f;
  };
  m.plugin = kPlugins[flags % std::size(kPlugins)];
  // As client/call.hpp's namespaces_id writes them: no space, no newline.
  m.namespaces = field();
  std::erase_if(m.namespaces, [](char c) { return c == ' ' || c == '\n'; });
  for (size_t i = 0; i < std::size(kCallVariables); ++i) {
    m.set.push_back((flags >> (1 + i % 7)) & 1);
    m.values.push_back(m.set.back() ? field() : "");
  }
  m.config = std::string(in);
  // Mostly what a plugin exits with (0..255), sometimes what none can.
  m.exit_code = code < 240 ? code : (code % 2 ? -1 - code : 256 + code);
  return m;
}

void check_call_round_trip(const Material& m) {
  auto getenv = [&m](const char* name) -> const char* {
    for (size_t i = 0; i < std::size(kCallVariables); ++i) {
      if (std::string_view(kCallVariables[i]) == name) {
        return m.set[i] ? m.values[i].c_str() : nullptr;
      }
    }
    return nullptr;
  };
  StringOut call;
  FUZZ_CHECK(encode_call(call, *m.plugin, bytes(m.namespaces), getenv, bytes(m.config)));
  // Into a bounded buffer (the front end's can fail to grow): all of it, or false.
  Text bounded;
  if (encode_call(bounded, *m.plugin, bytes(m.namespaces), getenv, bytes(m.config))) {
    FUZZ_CHECK(view(bounded.bytes()) == call.s);
  } else {
    FUZZ_CHECK(call.s.size() > Text::kCapacity);
  }

  CallHead head;
  const Head h = check_head(call.s, head);
  const size_t eol = call.s.find('\n');
  if (eol > kMaxHeader) {  // namespaces too long for a header
    FUZZ_CHECK(h == Head::kMalformed);
    return;
  }
  FUZZ_CHECK(h == Head::kCall && head.plugin == m.plugin);
  FUZZ_CHECK(view(head.namespaces) == m.namespaces);
  FUZZ_CHECK(head.body_at + head.body_size == call.s.size());
  Vars vars;
  std::string_view config;
  FUZZ_CHECK(check_body(std::string_view(call.s).substr(head.body_at), vars, config));
  FUZZ_CHECK(config == m.config);
  size_t next = 0;
  for (size_t i = 0; i < std::size(kCallVariables); ++i) {
    if (!m.set[i]) continue;
    FUZZ_CHECK(next < vars.size() && vars[next].first == kCallVariables[i]);
    FUZZ_CHECK(vars[next].second == m.values[i]);
    ++next;
  }
  FUZZ_CHECK(next == vars.size());
  // Read in pieces, as the agent reads a socket: no call before the whole header line.
  for (size_t n = 0; n <= eol; ++n) {
    CallHead part;
    FUZZ_CHECK(check_head(std::string_view(call.s).substr(0, n), part) == Head::kIncomplete);
  }
  for (const size_t n : {eol + 1, call.s.size() - 1, call.s.size()}) {
    if (n <= eol) continue;
    CallHead part;
    FUZZ_CHECK(check_head(std::string_view(call.s).substr(0, n), part) == Head::kCall);
    FUZZ_CHECK(part.plugin == head.plugin && part.body_size == head.body_size);
    FUZZ_CHECK(view(part.namespaces) == view(head.namespaces));
  }
}

void check_reply_round_trip(const Material& m) {
  StringOut reply;
  FUZZ_CHECK(encode_done(reply, m.exit_code, bytes(m.config), bytes(m.namespaces)));
  const Reply r = check_reply(reply.s);
  if (m.exit_code < 0 || m.exit_code > 255) {
    FUZZ_CHECK(r.kind == Reply::kCutShort);
    return;
  }
  FUZZ_CHECK(r.kind == Reply::kDone && r.exit_code == m.exit_code);
  FUZZ_CHECK(view(r.out) == m.config && view(r.err) == m.namespaces);
  // Cut before the end of stdout (the agent died, the socket broke): never "done", so the
  // caller does not print half an answer as the plugin's.
  const size_t out_end = reply.s.size() - m.namespaces.size();
  for (size_t n = 0; n < out_end; ++n) {
    const Reply cut = check_reply(std::string_view(reply.s).substr(0, n));
    FUZZ_CHECK(cut.kind == (n < 5 ? Reply::kNotRun : Reply::kCutShort));
  }
  // The same after "run" (version 2): once it came, no cut is ever run again by the caller.
  StringOut ran;
  FUZZ_CHECK(encode_run(ran, version2()) && encode_done(ran, m.exit_code, bytes(m.config), bytes(m.namespaces)));
  const size_t run = length(kRun);
  for (size_t n = run; n < out_end + run; ++n) {
    const Reply cut = check_reply(std::string_view(ran.s).substr(0, n));
    FUZZ_CHECK(cut.began && cut.kind == Reply::kCutShort);
  }
}

}  // namespace

int frame(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // As received: a call (and its body, when all of it is in), a body alone, a reply.
  CallHead head;
  Vars vars;
  std::string_view config;
  if (check_head(in, head) == Head::kCall && head.body_at + head.body_size <= in.size()) {
    check_body(in.substr(head.body_at, head.body_size), vars, config);
  }
  check_body(in, vars, config);
  check_reply(in);
  // As the material of a call and a reply.
  const Material m = material(in);
  check_call_round_trip(m);
  check_reply_round_trip(m);
  return 0;
}

}  // namespace weir::agent::proto::fuzz
