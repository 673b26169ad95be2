#include "lib/etcd/transport.hpp"

#include <cctype>
#include <cstring>
#include <mutex>

namespace weir::etcd::detail {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Connection::Connection(const Config& config, bool stream) : timeout_(config.timeout) {
  global_init();
  easy_ = curl_easy_init();
  if (easy_ == nullptr) return;  // out of memory: post() reports it
  // A JSON body, and no "Expect: 100-continue" round trip before bodies over 1 KiB.
  headers_ = curl_slist_append(headers_, "Content-Type: application/json");
  headers_ = curl_slist_append(headers_, "Expect:");
  if (stream) {
    // Without it, a watch on a member cut off from its leader stays open and silent
    // (etcd's clientv3 sends the same metadata, rpctypes.MetadataRequireLeaderKey).
    headers_ = curl_slist_append(headers_, "Grpc-Metadata-hasleader: true");
  }
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &Connection::on_data);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy_, CURLOPT_PROXY, "");  // never an http_proxy from the environment
  curl_easy_setopt(easy_, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, long(config.timeout.count()));
  if (stream) {
    curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy_, CURLOPT_TCP_KEEPIDLE, 10L);
    curl_easy_setopt(easy_, CURLOPT_TCP_KEEPINTVL, 5L);
  } else {
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, long(config.timeout.count()));
  }
  if (!config.tls.ca.empty()) curl_easy_setopt(easy_, CURLOPT_CAINFO, config.tls.ca.c_str());
  if (!config.tls.cert.empty()) {
    curl_easy_setopt(easy_, CURLOPT_SSLCERT, config.tls.cert.c_str());
    curl_easy_setopt(easy_, CURLOPT_SSLKEY, config.tls.key.c_str());
  }
}

Connection::~Connection() {
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  curl_slist_free_all(headers_);
}

size_t Connection::on_data(char* data, size_t size, size_t n, void* self) {
  static_cast<Connection*>(self)->received_.append(data, size * n);
  return size * n;
}

void Connection::prepare(const std::string& url, const std::string& body) {
  received_.clear();
  errbuf_[0] = '\0';
  curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, long(body.size()));
  curl_easy_setopt(easy_, CURLOPT_COPYPOSTFIELDS, body.c_str());
}

std::expected<Answer, std::string> Connection::post(const std::string& url,
                                                    const std::string& body) {
  if (easy_ == nullptr) return std::unexpected("curl_easy_init failed");
  prepare(url, body);
  const CURLcode rc = curl_easy_perform(easy_);
  if (rc != CURLE_OK) return std::unexpected(failure(rc));
  return Answer{status(), std::move(received_)};
}

long Connection::status() const {
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

std::string Connection::failure(CURLcode rc) const {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timed out after " + std::to_string(timeout_.count()) + " ms";
    case CURLE_COULDNT_CONNECT: {
      long err = 0;
      curl_easy_getinfo(easy_, CURLINFO_OS_ERRNO, &err);
      if (err == 0) break;
      std::string text = std::strerror(int(err));
      if (!text.empty()) text[0] = char(std::tolower(uint8_t(text[0])));
      return text;
    }
    case CURLE_COULDNT_RESOLVE_HOST:
      return "cannot resolve the host name";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
      return std::string("TLS: ") + (errbuf_[0] != '\0' ? errbuf_ : curl_easy_strerror(rc));
    default:
      break;
  }
  return errbuf_[0] != '\0' ? errbuf_ : curl_easy_strerror(rc);
}

}  // namespace weir::etcd::detail
