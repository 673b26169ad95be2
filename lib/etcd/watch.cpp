// The watch: POST /v3/watch with a create_request, on a connection of its own, read as the
// gateway's newline-delimited stream of {"result":{…}} (or {"error":{…}}) objects. The first
// one acknowledges the watch ("created"); then events, or a cancellation.
#include <algorithm>

#include "lib/etcd/client.hpp"
#include "lib/etcd/client_impl.hpp"

namespace weir::etcd {

namespace {

struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};

using Clock = std::chrono::steady_clock;

}  // namespace

struct Watch::Impl {
  std::string endpoint;
  std::unique_ptr<detail::Connection> connection;
  std::unique_ptr<CURLM, MultiDeleter> multi;
  size_t consumed = 0;  // bytes of connection->received() already parsed
  bool done = false;    // the transfer ended
  CURLcode result = CURLE_OK;
  bool cancelled = false;

  ~Impl() {
    if (multi && connection) curl_multi_remove_handle(multi.get(), connection->easy());
  }

  // Runs the transfer until a whole line is there, the transfer ends, or the deadline passes.
  void pump(Clock::time_point deadline) {
    for (;;) {
      int running = 0;
      curl_multi_perform(multi.get(), &running);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi.get(), &left)) {
        if (m->msg == CURLMSG_DONE) {
          done = true;
          result = m->data.result;
        }
      }
      if (has_line() || done) return;
      const auto now = Clock::now();
      if (now >= deadline) return;
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
      curl_multi_poll(multi.get(), nullptr, 0, int(std::min<int64_t>(wait.count(), 1000)), nullptr);
    }
  }

  bool has_line() const { return connection->received().find('\n', consumed) != std::string::npos; }

  // The next whole line, if any.
  std::optional<std::string> line() {
    std::string& buffer = connection->received();
    const size_t nl = buffer.find('\n', consumed);
    if (nl == std::string::npos) return std::nullopt;
    std::string l = buffer.substr(consumed, nl - consumed);
    consumed = nl + 1;
    if (consumed > 65536 && consumed * 2 > buffer.size()) {
      buffer.erase(0, consumed);
      consumed = 0;
    }
    return l;
  }

  // Why the stream is over, as a code 11 error (the caller re-lists and watches again).
  cni::Error broken(const std::string& why) const {
    return cni::try_again_later("etcd watch " + endpoint + ": " + why);
  }
  std::string ended() const {
    if (result != CURLE_OK) return connection->failure(result);
    const long status = connection->status();
    return status == 200 ? "the stream ended" : "HTTP " + std::to_string(status);
  }
};

Expected<Watch> Client::watch(std::string key, std::string range_end, int64_t start_revision) {
  const std::string body = wire::watch_request(key, range_end, start_revision).dump();
  std::vector<std::string> failures;
  const size_t n = impl_->bases.size();
  for (size_t i = 0; i < n; ++i) {
    const size_t at = (impl_->preferred + i) % n;
    auto w = std::make_unique<Watch::Impl>();
    w->endpoint = impl_->config.endpoints[at];
    w->connection = std::make_unique<detail::Connection>(impl_->config, /*stream=*/true);
    w->multi.reset(curl_multi_init());
    if (w->connection->easy() == nullptr || !w->multi) {
      return fail(cni::internal("curl_easy_init/curl_multi_init failed"));
    }
    ++impl_->requests;
    w->connection->prepare(impl_->bases[at] + "/v3/watch", body);
    curl_multi_add_handle(w->multi.get(), w->connection->easy());
    // The acknowledgement, within the timeout of one attempt.
    w->pump(Clock::now() + impl_->config.timeout);
    auto first = w->line();
    if (!first) {
      std::string why =
          w->done ? w->ended()
                  : "no answer within " + std::to_string(impl_->config.timeout.count()) + " ms";
      if (w->done && w->connection->status() != 200 && w->result == CURLE_OK) {
        // An answer that is not a stream: an etcd error (HTTP 4xx/5xx), or not etcd.
        auto outcome =
            detail::interpret(w->endpoint, w->connection->status(), w->connection->received());
        if (outcome.kind == detail::Outcome::Kind::kError) return fail(std::move(outcome.error));
        if (outcome.kind == detail::Outcome::Kind::kUnusable) why = outcome.reason;
      }
      failures.push_back(w->endpoint + " (" + why + ")");
      continue;
    }
    auto outcome = detail::interpret(w->endpoint, 200, *first);
    if (outcome.kind == detail::Outcome::Kind::kUnusable) {
      failures.push_back(w->endpoint + " (" + outcome.reason + ")");
      continue;
    }
    if (outcome.kind == detail::Outcome::Kind::kError) return fail(std::move(outcome.error));
    wire::Reader r;
    if (!r.flag(r.object(outcome.answer, "result"), "created")) {
      return fail(cni::make_error(
          cni::Code::kStore,
          "etcd " + w->endpoint + ": the watch was not acknowledged: " + cni::quoted(*first)));
    }
    // A watch etcd refused at once comes acknowledged and cancelled in one message: next()
    // reads it again and reports it.
    if (r.flag(r.object(outcome.answer, "result"), "canceled")) w->consumed = 0;
    impl_->preferred = at;
    return Watch(std::move(w));
  }
  return fail(detail::no_endpoint(failures));
}

Watch::Watch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Watch::Watch(Watch&&) noexcept = default;
Watch& Watch::operator=(Watch&&) noexcept = default;
Watch::~Watch() = default;

Expected<WatchBatch> Watch::next(std::chrono::milliseconds wait) {
  Impl& w = *impl_;
  if (w.cancelled) return fail(w.broken("the watch was cancelled"));
  const auto deadline = Clock::now() + wait;
  WatchBatch batch;
  for (;;) {
    w.pump(deadline);
    while (auto l = w.line()) {
      const auto message = wire::json::parse(*l, nullptr, false);
      if (message.is_discarded()) return fail(w.broken("not JSON: " + cni::quoted(*l)));
      if (auto e = wire::grpc_error(message)) return fail(w.broken(e->message));
      wire::Reader r;
      const auto& result = r.object(message, "result");
      for (const auto& event : r.array(result, "events")) {
        batch.events.push_back(wire::read_event(r, event));
      }
      if (r.flag(result, "canceled")) {
        w.cancelled = true;
        batch.compact_revision = r.i64(result, "compact_revision");
        if (batch.compact_revision <= 0) {
          std::string reason = r.text(result, "cancel_reason");
          return fail(w.broken("cancelled by etcd" + (reason.empty() ? "" : ": " + reason)));
        }
      }
      if (!r.error().empty()) {
        return fail(cni::make_error(
            cni::Code::kStore, "etcd watch " + w.endpoint + ": unexpected answer: " + r.error()));
      }
      if (w.cancelled) return batch;
    }
    if (!batch.events.empty()) return batch;
    if (w.done) return fail(w.broken(w.ended()));
    if (Clock::now() >= deadline) return batch;
  }
}

}  // namespace weir::etcd
