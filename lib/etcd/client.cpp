#include "lib/etcd/client.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <utility>

#include "lib/etcd/client_impl.hpp"

namespace weir::etcd {

namespace {

constexpr std::string_view kGrpcStatus = "grpc-status: ";

// An endpoint is a base URL: http(s)://host[:port], at most a trailing '/'.
Expected<void> check_endpoint(const std::string& endpoint, const std::string& field) {
  auto bad = [&](std::string why) {
    return fail(cni::invalid_config(field + ": " + cni::quoted(endpoint) + " " + why));
  };
  if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return bad("does not start with http:// or https://");
  }
  detail::global_init();
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> url(curl_url(), &curl_url_cleanup);
  if (!url) return fail(cni::internal("curl_url failed"));
  if (curl_url_set(url.get(), CURLUPART_URL, endpoint.c_str(), 0) != CURLUE_OK) {
    return bad("is not a URL");
  }
  auto part = [&](CURLUPart which) {
    char* p = nullptr;
    std::string s;
    if (curl_url_get(url.get(), which, &p, 0) == CURLUE_OK && p != nullptr) s = p;
    curl_free(p);
    return s;
  };
  if (part(CURLUPART_HOST).empty()) return bad("has no host");
  if (!part(CURLUPART_USER).empty()) return bad("has a user name (not supported)");
  if (const auto path = part(CURLUPART_PATH); !path.empty() && path != "/") {
    return bad("has a path (give the member's base URL, as in http://10.0.0.5:2379)");
  }
  if (!part(CURLUPART_QUERY).empty() || !part(CURLUPART_FRAGMENT).empty()) {
    return bad("has a query or fragment");
  }
  return {};
}

Expected<void> check_readable(const std::string& path, const std::string& field) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(cni::sys_error(errno, field + ": cannot read " + cni::quoted(path),
                               cni::Code::kInvalidConfig));
  }
  ::close(fd);
  return {};
}

Expected<void> check_config(const Config& config) {
  if (config.endpoints.empty()) {
    return fail(cni::invalid_config("store.endpoints: at least one etcd endpoint is needed"));
  }
  for (size_t i = 0; i < config.endpoints.size(); ++i) {
    auto ok = check_endpoint(config.endpoints[i], "store.endpoints[" + std::to_string(i) + "]");
    if (!ok) return ok;
  }
  if (config.timeout.count() <= 0) {
    return fail(cni::invalid_config("store.timeoutMs: " + std::to_string(config.timeout.count()) +
                                    " is not a positive number of milliseconds"));
  }
  if (config.tls.cert.empty() != config.tls.key.empty()) {
    return fail(cni::invalid_config(config.tls.cert.empty()
                                        ? "store.tls.cert: missing (store.tls.key is given)"
                                        : "store.tls.key: missing (store.tls.cert is given)"));
  }
  for (const auto& [path, field] :
       {std::pair{&config.tls.ca, "store.tls.ca"}, std::pair{&config.tls.cert, "store.tls.cert"},
        std::pair{&config.tls.key, "store.tls.key"}}) {
    if (path->empty()) continue;
    if (auto ok = check_readable(*path, field); !ok) return ok;
  }
  return {};
}

std::string base_of(const std::string& endpoint) {
  return endpoint.ends_with('/') ? endpoint.substr(0, endpoint.size() - 1) : endpoint;
}

// The answer of a call, or the error naming the endpoint when it is not what etcd sends.
template <class T>
Expected<T> checked(const wire::Reader& r, const std::string& endpoint, T value) {
  if (!r.error().empty()) {
    return fail(cni::make_error(cni::Code::kStore,
                                "etcd " + endpoint + ": unexpected answer: " + r.error()));
  }
  return value;
}

}  // namespace

namespace detail {

cni::Error etcd_error(const std::string& endpoint, const wire::GrpcError& e) {
  return cni::make_error(cni::Code::kStore, "etcd " + endpoint + ": " + e.message,
                         std::string(kGrpcStatus) + std::to_string(e.code));
}

cni::Error no_endpoint(const std::vector<std::string>& failures) {
  std::string msg = "etcd: no endpoint answered: ";
  for (size_t i = 0; i < failures.size(); ++i) msg += (i > 0 ? ", " : "") + failures[i];
  return cni::try_again_later(std::move(msg));
}

Outcome interpret(const std::string& endpoint, long http_status, const std::string& body) {
  Outcome out;
  auto answer = wire::json::parse(body, nullptr, false);
  if (auto e = wire::grpc_error(answer)) {
    // UNAVAILABLE is about the member, not the request: "etcdserver: no leader", "request timed
    // out", "server stopped". etcd's own client tries another member then; so do we.
    if (e->code == 14) {
      out.kind = Outcome::Kind::kUnusable;
      out.reason = e->message;
      return out;
    }
    out.kind = Outcome::Kind::kError;
    out.error = etcd_error(endpoint, *e);
    return out;
  }
  if (http_status != 200 || answer.is_discarded() || !answer.is_object()) {
    std::string excerpt = body.substr(0, 200);
    while (!excerpt.empty() && std::isspace(uint8_t(excerpt.back()))) excerpt.pop_back();
    out.kind = Outcome::Kind::kError;
    out.error = cni::make_error(cni::Code::kStore,
                                "etcd " + endpoint + ": HTTP " + std::to_string(http_status) +
                                    ", not an etcd answer: " + cni::quoted(excerpt));
    return out;
  }
  out.kind = Outcome::Kind::kAnswer;
  out.answer = std::move(answer);
  return out;
}

}  // namespace detail

Expected<wire::json> Client::Impl::call(const char* path, const wire::json& body) {
  const std::string payload = body.dump();
  std::vector<std::string> failures;
  const size_t n = bases.size();
  for (size_t i = 0; i < n; ++i) {
    const size_t at = (preferred + i) % n;
    const std::string& endpoint = config.endpoints[at];
    ++requests;
    auto answer = connection->post(bases[at] + path, payload);
    if (!answer) {
      failures.push_back(endpoint + " (" + answer.error() + ")");
      continue;
    }
    auto outcome = detail::interpret(endpoint, answer->status, answer->body);
    switch (outcome.kind) {
      case detail::Outcome::Kind::kUnusable:
        failures.push_back(endpoint + " (" + outcome.reason + ")");
        continue;
      case detail::Outcome::Kind::kError:
        preferred = at;
        return fail(std::move(outcome.error));
      case detail::Outcome::Kind::kAnswer:
        preferred = at;
        return std::move(outcome.answer);
    }
  }
  return fail(detail::no_endpoint(failures));
}

Op Op::put(std::string key, std::string value, int64_t lease) {
  return {.kind = Kind::kPut, .key = std::move(key), .value = std::move(value), .lease = lease};
}
Op Op::del(std::string key, std::string range_end) {
  return {.kind = Kind::kDelete, .key = std::move(key), .range_end = std::move(range_end)};
}
Op Op::get(std::string key, std::string range_end) {
  return {.kind = Kind::kRange, .key = std::move(key), .range_end = std::move(range_end)};
}

Expected<Client> Client::make(Config config) {
  if (auto ok = check_config(config); !ok) return fail(std::move(ok.error()));
  auto impl = std::make_unique<Impl>();
  for (const auto& e : config.endpoints) impl->bases.push_back(base_of(e));
  impl->connection = std::make_unique<detail::Connection>(config, /*stream=*/false);
  if (impl->connection->easy() == nullptr) return fail(cni::internal("curl_easy_init failed"));
  impl->config = std::move(config);
  return Client(std::move(impl));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

const Config& Client::config() const {
  return impl_->config;
}
uint64_t Client::requests() const {
  return impl_->requests;
}

Expected<RangeResult> Client::range(const RangeRequest& request) {
  auto answer = impl_->call("/v3/kv/range", wire::range_request(request));
  if (!answer) return fail(std::move(answer.error()));
  wire::Reader r;
  auto result = wire::read_range(r, *answer);
  return checked(r, impl_->config.endpoints[impl_->preferred], std::move(result));
}

Expected<int64_t> Client::put(std::string_view key, std::string_view value, int64_t lease) {
  auto answer = impl_->call("/v3/kv/put", wire::put_request(key, value, lease));
  if (!answer) return fail(std::move(answer.error()));
  wire::Reader r;
  const int64_t revision = r.i64(r.object(*answer, "header"), "revision");
  return checked(r, impl_->config.endpoints[impl_->preferred], revision);
}

Expected<int64_t> Client::del(std::string_view key, std::string_view range_end) {
  auto answer = impl_->call("/v3/kv/deleterange", wire::delete_request(key, range_end));
  if (!answer) return fail(std::move(answer.error()));
  wire::Reader r;
  const int64_t deleted = r.i64(*answer, "deleted");
  return checked(r, impl_->config.endpoints[impl_->preferred], deleted);
}

Expected<TxnResult> Client::txn(const std::vector<Compare>& compares,
                                const std::vector<Op>& success, const std::vector<Op>& failure) {
  auto answer = impl_->call("/v3/kv/txn", wire::txn_request(compares, success, failure));
  if (!answer) return fail(std::move(answer.error()));
  wire::Reader r;
  auto result = wire::read_txn(r, *answer);
  return checked(r, impl_->config.endpoints[impl_->preferred], std::move(result));
}

Expected<int64_t> Client::lease_grant(int64_t ttl_seconds) {
  auto answer = impl_->call("/v3/lease/grant", {{"TTL", std::to_string(ttl_seconds)}});
  if (!answer) return fail(std::move(answer.error()));
  wire::Reader r;
  const int64_t id = r.i64(*answer, "ID");
  if (r.error().empty() && id == 0) r.fail("no lease ID");
  return checked(r, impl_->config.endpoints[impl_->preferred], id);
}

Expected<int64_t> Client::lease_keepalive(int64_t lease) {
  // A streaming call in gRPC: the gateway answers the one request as {"result":{…}}. A lease
  // that is gone comes back without a TTL (0).
  auto answer = impl_->call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}});
  if (!answer) return fail(std::move(answer.error()));
  wire::Reader r;
  const int64_t ttl = r.i64(r.object(*answer, "result"), "TTL");
  return checked(r, impl_->config.endpoints[impl_->preferred], ttl);
}

Expected<void> Client::lease_revoke(int64_t lease) {
  auto answer = impl_->call("/v3/lease/revoke", {{"ID", std::to_string(lease)}});
  if (!answer && grpc_status(answer.error()) == 5) return {};  // NOT_FOUND: already gone
  if (!answer) return fail(std::move(answer.error()));
  return {};
}

Expected<int64_t> Client::lease_ttl(int64_t lease) {
  auto answer = impl_->call("/v3/lease/timetolive", {{"ID", std::to_string(lease)}});
  if (!answer) return fail(std::move(answer.error()));
  wire::Reader r;
  const int64_t ttl = r.i64(*answer, "TTL");  // -1 when etcd knows no such lease
  return checked(r, impl_->config.endpoints[impl_->preferred], ttl);
}

Expected<Status> Client::status(const std::string& endpoint) {
  if (auto ok = check_endpoint(endpoint, "endpoint"); !ok) return fail(std::move(ok.error()));
  ++impl_->requests;
  auto answer = impl_->connection->post(base_of(endpoint) + "/v3/maintenance/status", "{}");
  if (!answer) return fail(detail::no_endpoint({endpoint + " (" + answer.error() + ")"}));
  auto outcome = detail::interpret(endpoint, answer->status, answer->body);
  if (outcome.kind == detail::Outcome::Kind::kUnusable) {
    return fail(detail::no_endpoint({endpoint + " (" + outcome.reason + ")"}));
  }
  if (outcome.kind == detail::Outcome::Kind::kError) return fail(std::move(outcome.error));
  wire::Reader r;
  const auto& header = r.object(outcome.answer, "header");
  Status status{.endpoint = endpoint,
                .version = r.text(outcome.answer, "version"),
                .revision = r.i64(header, "revision"),
                .leader = r.u64(outcome.answer, "leader"),
                .member = r.u64(header, "member_id"),
                .db_size = r.i64(outcome.answer, "dbSize")};
  return checked(r, endpoint, std::move(status));
}

int grpc_status(const cni::Error& error) {
  if (error.code != cni::Code::kStore || !error.details.starts_with(kGrpcStatus)) return 0;
  int code = 0;
  const char* p = error.details.data() + kGrpcStatus.size();
  std::from_chars(p, error.details.data() + error.details.size(), code);
  return code;
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (uint8_t(end.back()) < 0xff) {
      end.back() = char(uint8_t(end.back()) + 1);
      return end;
    }
    end.pop_back();  // 0xff cannot be incremented: the byte before it carries
  }
  return std::string(1, '\0');
}

}  // namespace weir::etcd
