// The framing of a plugin call between a front end (plugins/front) and weir-agent, and of the
// agent's reply: one encoder and one decoder of each, used by both sides and by the tests.
// Freestanding, as the front end links no C library: views and the caller's buffers only.
//
// A call, one per connection:
//   "<request word><version> <namespaces> <body bytes>\n", then the body: "NAME=value\0" for
//   each CNI_* variable that is set (cni::kCallVariables; no value holds a NUL), an empty entry
//   ("\0"), then the config. The request word names the plugin ("bridge", route.hpp), the
//   version the protocol's (kVersion: "bridge2"). <namespaces> is "<dev>:<ino>,<dev>:<ino>", the
//   caller's netns and mount namespace (client/call.hpp: namespaces_id), empty when unknown: the
//   agent runs the call only when they are its own.
// The reply, up to EOF:
//   "run\n" (version 2 on): the agent is about to run the call. Nothing of it ran before; from
//   here on the caller must not run it itself: an answer that does not follow (the agent died
//   in the call) is a failure, CNI code 11, and the runtime's DEL or retry cleans up;
//   "done <exit code> <stdout bytes>\n", stdout, stderr: the agent ran the call, and this is
//   what the plugin printed;
//   "elsewhere\n": the agent did not run it (another namespace, an upgraded binary, a call cut
//   short, a verb it does not take): the caller runs it itself. So does anything else an agent
//   says (an older one's "error …" for a request word or version it does not know), and a
//   connection closed before any of these (the agent died before it took the call).
// Version 1 (weir before the supervised agent) has no "run\n"; the agent answers a version-1
// call as version 1 did.
#pragma once

#include "agent/proto/json.hpp"
#include "agent/proto/route.hpp"

namespace weir::agent::proto {

inline constexpr size_t kMaxHeader = 256;     // a header line longer than this is no call
inline constexpr size_t kMaxBody = 4 << 20;   // nor is a body larger than this
inline constexpr char kNotRun[] = "elsewhere\n";
inline constexpr char kRun[] = "run\n";
// The version a front end sends; an agent takes 1..kVersion.
inline constexpr unsigned kVersion = 2;

// The plugins whose ADD and DEL weir-agent runs.
inline constexpr const Plugin* kPlugins[] = {&kIpam, &kBridge};

// The verbs a front end forwards to the agent (ADD, DEL); the rest run in the plugin process.
bool forwarded(Bytes command);

// Appends v in decimal. Out has `bool append(Bytes)`.
template <class Out>
bool append_decimal(Out& out, unsigned long v) {
  char digits[24];
  size_t n = 0;
  do {
    digits[sizeof(digits) - 1 - n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return out.append({digits + sizeof(digits) - n, n});
}

// A call of `plugin`: the header, then the body. `getenv` gives each variable's value, or null
// when it is not set.
template <class Out, class Getenv>
bool encode_call(Out& out, const Plugin& plugin, Bytes namespaces, Getenv getenv, Bytes config) {
  size_t body = 1 + config.size;
  for (const char* name : kCallVariables) {
    if (const char* value = getenv(name)) body += length(name) + 1 + length(value) + 1;
  }
  bool ok = out.append({plugin.request, length(plugin.request)}) && append_decimal(out, kVersion) &&
            out.append({" ", 1}) &&
            out.append(namespaces) && out.append({" ", 1}) && append_decimal(out, body) &&
            out.append({"\n", 1});
  for (const char* name : kCallVariables) {
    if (const char* value = getenv(name)) {
      ok = ok && out.append({name, length(name)}) && out.append({"=", 1}) &&
           out.append({value, length(value) + 1});  // with its NUL
    }
  }
  return ok && out.append({"", 1}) && out.append(config);
}

// The header of a call, as decode_head finds it in the bytes received so far.
struct CallHead {
  const Plugin* plugin = nullptr;  // set unless kNotACall
  unsigned version = 0;            // 1..kVersion when plugin is set
  Bytes namespaces;
  size_t body_at = 0;    // where the body starts in the bytes received
  size_t body_size = 0;  // its length, as the header says
};
enum class Head {
  kIncomplete,  // no whole header line yet (and not too long for one): read more
  kNotACall,    // the first word is no plugin's request word with a version we speak
  kMalformed,   // a plugin's request word, but the rest of the line is wrong or too big
  kCall,        // head is set; the call is complete once body_at + body_size bytes are in
};
Head decode_head(Bytes received, CallHead& head);

// The body of a call: each variable to `var(name, value)`, and the config. False when it is
// malformed (an entry without '=', no empty entry before the config).
template <class Var>
bool decode_body(Bytes body, Var var, Bytes& config) {
  size_t at = 0;
  for (;;) {
    size_t end = at;
    while (end < body.size && body.data[end] != '\0') ++end;
    if (end == body.size) return false;
    if (end == at) break;  // the empty entry: the config follows
    size_t eq = at;
    while (eq < end && body.data[eq] != '=') ++eq;
    if (eq == end) return false;
    var(Bytes{body.data + at, eq - at}, Bytes{body.data + eq + 1, end - eq - 1});
    at = end + 1;
  }
  config = {body.data + at + 1, body.size - at - 1};
  return true;
}

// The agent's word that it runs the call now (version 2 on), sent before anything of it runs.
template <class Out>
bool encode_run(Out& out, const CallHead& head) {
  return head.version < 2 || out.append({kRun, length(kRun)});
}

// The agent's reply to a call that it ran.
template <class Out>
bool encode_done(Out& out, int exit_code, Bytes stdout_bytes, Bytes stderr_bytes) {
  return out.append({"done ", 5}) && append_decimal(out, static_cast<unsigned long>(exit_code)) &&
         out.append({" ", 1}) && append_decimal(out, stdout_bytes.size) && out.append({"\n", 1}) &&
         out.append(stdout_bytes) && out.append(stderr_bytes);
}

struct Reply {
  enum Kind {
    kNotRun,    // the caller runs the call itself
    kDone,      // ran: exit_code, out and err are what the plugin would have printed
    kCutShort,  // ran (or began to), but its answer is malformed or cut short: do not run it again
  } kind = kNotRun;
  int exit_code = 0;
  Bytes out;
  Bytes err;
  bool began = false;  // the agent said "run": a kCutShort that died in the call
};
Reply decode_reply(Bytes got);

}  // namespace weir::agent::proto
