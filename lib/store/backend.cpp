#include "lib/store/backend.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "lib/store/data_dir.hpp"
#include "lib/store/sqlite.hpp"

namespace weir::store {

namespace {

std::atomic<EtcdOpener> g_etcd_opener{nullptr};

Expected<std::string> string_field(const nlohmann::json& object, const std::string& field,
                                   const char* key) {
  const auto it = object.find(key);
  if (it == object.end()) return std::string();
  if (!it->is_string()) return fail(cni::invalid_config(field + "." + key + " must be a string"));
  return it->get<std::string>();
}

std::string machine_name() {
  utsname u{};
  if (::uname(&u) != 0) return {};
  return u.nodename;
}

// A prefix of keys: absolute, no trailing '/', nothing etcd or weir's layout would misread.
bool valid_prefix(const std::string& p) {
  if (p.size() < 2 || p.front() != '/' || p.back() == '/' || p.size() > 256) return false;
  return p.find("//") == std::string::npos &&
         std::all_of(p.begin(), p.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

// A host name as it appears in keys and records.
bool valid_host(const std::string& h) {
  return !h.empty() && h.size() <= 253 && std::all_of(h.begin(), h.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

Expected<Backend> parse_etcd(const nlohmann::json& object, const std::string& field) {
  Backend b;
  b.kind = Backend::Kind::kEtcd;
  const auto endpoints = object.find("endpoints");
  if (endpoints == object.end() || !endpoints->is_array() || endpoints->empty()) {
    return fail(cni::invalid_config(field + ".endpoints must be a non-empty list of URLs"));
  }
  for (size_t i = 0; i < endpoints->size(); ++i) {
    const auto& e = (*endpoints)[i];
    const std::string where = field + ".endpoints[" + std::to_string(i) + "]";
    if (!e.is_string()) return fail(cni::invalid_config(where + " must be a string"));
    const std::string url = e.get<std::string>();
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      return fail(cni::invalid_config(where + " must be an http:// or https:// URL, not " +
                                      cni::quoted(url)));
    }
    b.etcd.endpoints.push_back(url);
  }
  auto prefix = string_field(object, field, "prefix");
  if (!prefix) return fail(prefix.error());
  if (!prefix->empty()) b.prefix = *prefix;
  if (!valid_prefix(b.prefix)) {
    return fail(cni::invalid_config(field +
                                    ".prefix must be an absolute key path like \"/weir\", not " +
                                    cni::quoted(b.prefix)));
  }
  auto host = string_field(object, field, "host");
  if (!host) return fail(host.error());
  b.host = host->empty() ? machine_name() : *host;
  if (!valid_host(b.host)) {
    return fail(cni::invalid_config(
        field + ".host must be a host name (letters, digits, '-', '.', '_'), not " +
        cni::quoted(b.host)));
  }
  if (const auto t = object.find("timeoutMs"); t != object.end()) {
    if (!t->is_number_integer() || t->get<int64_t>() < 1 || t->get<int64_t>() > 600'000) {
      return fail(cni::invalid_config(
          field + ".timeoutMs must be a whole number of milliseconds from 1 to 600000"));
    }
    b.etcd.timeout = std::chrono::milliseconds(t->get<int64_t>());
  }
  if (const auto tls = object.find("tls"); tls != object.end()) {
    if (!tls->is_object()) return fail(cni::invalid_config(field + ".tls must be an object"));
    for (const auto& [key, path] :
         {std::pair{"ca", &b.etcd.tls.ca}, std::pair{"cert", &b.etcd.tls.cert},
          std::pair{"key", &b.etcd.tls.key}}) {
      auto v = string_field(*tls, field + ".tls", key);
      if (!v) return fail(v.error());
      if (!v->empty() && v->front() != '/') {
        return fail(cni::invalid_config(field + ".tls." + key + " must be an absolute path, not " +
                                        cni::quoted(*v)));
      }
      *path = *v;
    }
    if (b.etcd.tls.cert.empty() != b.etcd.tls.key.empty()) {
      return fail(cni::invalid_config(field + ".tls.cert and " + field + ".tls.key go together"));
    }
  }
  for (const auto& [key, value] : object.items()) {
    static constexpr const char* kKnown[] = {"type", "endpoints", "prefix",
                                             "host", "timeoutMs", "tls"};
    if (std::none_of(std::begin(kKnown), std::end(kKnown),
                     [&](const char* k) { return key == k; })) {
      return fail(cni::invalid_config(field + "." + key + " is not a store setting (" +
                                      "endpoints, prefix, host, timeoutMs, tls)"));
    }
  }
  return b;
}

}  // namespace

Expected<Backend> parse_backend(const nlohmann::json& object, const std::string& field) {
  if (!object.is_object()) return fail(cni::invalid_config(field + " must be an object"));
  auto type = string_field(object, field, "type");
  if (!type) return fail(type.error());
  Expected<Backend> b = Backend{};
  if (*type == "etcd") {
    b = parse_etcd(object, field);
  } else if (*type != "sqlite") {
    return fail(cni::invalid_config(field + ".type must be \"sqlite\" or \"etcd\", not " +
                                    cni::quoted(*type)));
  } else if (object.size() > 1) {
    return fail(
        cni::invalid_config(field + ": a sqlite store takes no settings (its folder is dataDir)"));
  }
  if (b) b->origin = field;
  return b;
}

Expected<Backend> backend_for(const nlohmann::json& netconf, const char* host_file) {
  if (netconf.is_object()) {
    const auto ipam = netconf.find("ipam");
    if (ipam != netconf.end() && ipam->is_object() && ipam->contains("store")) {
      return parse_backend((*ipam)["store"], "ipam.store");
    }
    if (const auto it = netconf.find("store"); it != netconf.end())
      return parse_backend(*it, "store");
  }
  // Whoever can write this file chooses where every network's records go (and which TLS files
  // are used): only a regular file of root's (or ours) that nobody else can write is read.
  const int fd = ::open(host_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Backend{};
    return fail(
        cni::invalid_config(std::string("read ") + host_file + ": " + std::strerror(errno)));
  }
  struct stat st {};
  std::string text;
  const bool safe = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && trusted_uid(st.st_uid) &&
                    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
  char buf[4096];
  for (ssize_t n; safe && (n = ::read(fd, buf, sizeof(buf))) > 0;) text.append(buf, size_t(n));
  ::close(fd);
  if (!safe) {
    return fail(cni::invalid_config(std::string(host_file) +
                                    " must be a file of root's that only its owner can write"));
  }
  const auto object = nlohmann::json::parse(text, nullptr, false);
  if (object.is_discarded()) {
    return fail(cni::invalid_config(std::string(host_file) + " is not JSON: fix it or remove it"));
  }
  return parse_backend(object, host_file);
}

void set_etcd_opener(EtcdOpener opener) {
  g_etcd_opener.store(opener);
}

bool etcd_linked() {
  return g_etcd_opener.load() != nullptr;
}

Expected<std::unique_ptr<Store>> open_backend(const Backend& backend, const std::string& data_dir) {
  if (backend.etcd_backed()) {
    const EtcdOpener opener = g_etcd_opener.load();
    if (opener == nullptr) {
      return fail(cni::make_error(cni::Code::kStore, "this program has no etcd store (" +
                                                         backend.origin +
                                                         " names one): run it as weir-cluster"));
    }
    return opener(backend);
  }
  auto s = SqliteStore::open(database_path(data_dir));
  if (!s) return fail(s.error());
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(*s)));
}

}  // namespace weir::store
