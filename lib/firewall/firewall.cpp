// The verbs. Every change is one transaction: read the generation and the rules it concerns,
// build one batch, send it with that generation. Another writer in between (another plugin
// process) makes the kernel refuse the batch with ERESTART, and the transaction starts over from
// the reads, so concurrent ADDs and DELs neither lose nor duplicate rules.
#include "lib/firewall/firewall.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "lib/firewall/nft.hpp"
#include "lib/firewall/rules.hpp"

namespace weir::firewall {
namespace {

using Selector = std::function<bool(std::string_view tag)>;

// Each conflict means another writer committed, so all of them make progress; the jittered
// pause keeps a burst of concurrent ADDs from colliding in lockstep.
constexpr int kAttempts = 32;

void backoff(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int ceiling_us = 500 << std::min(attempt, 5);  // 0.5 ms .. 16 ms
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % ceiling_us));
}

using cni::quoted;

using detail::kTables;

Expected<std::vector<nft::Installed>> collect(nft::Session& s,
                                              const std::vector<nft::ChainRef>& chains,
                                              const Selector& selected) {
  std::vector<nft::Installed> out;
  // A network's rules live in five chains of a table: one dump of the whole table costs less
  // than five round trips. An endpoint's live in two of inet's (and one of bridge's), cheaper
  // to read alone than the whole table.
  for (nft::Table table : kTables) {
    std::vector<nft::ChainRef> dumps;
    for (const auto& c : chains) {
      if (c.table == table) dumps.push_back(c);
    }
    if (dumps.size() > 2) dumps = {nft::ChainRef{.table = table, .name = {}}};
    for (const auto& dump : dumps) {
      auto rules = s.list_rules(dump);
      if (!rules) return fail(std::move(rules.error()));
      for (auto& r : *rules) {
        const nft::ChainRef at{.table = r.table, .name = r.chain};
        const bool in_chains = std::find(chains.begin(), chains.end(), at) != chains.end();
        if (in_chains && selected(r.tag)) out.push_back(std::move(r));
      }
    }
  }
  return out;
}

// Runs build (reads at the generation it is given, then fills the batch) and commits the batch
// with that generation; starts over when the kernel says the ruleset changed meanwhile. An
// empty batch is not sent.
using Build = std::function<Expected<void>(nft::Session&, nft::Batch&, uint32_t gen)>;

// `first_gen`: the generation the caller has just read, for the first attempt.
Expected<void> transact(nft::Session& session, std::string_view what, const Build& build,
                        std::optional<uint32_t> first_gen = std::nullopt) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Expected<uint32_t> gen = attempt == 0 && first_gen ? Expected<uint32_t>(*first_gen) : session.genid();
    if (!gen) return fail(std::move(gen.error()).context(what));
    nft::Batch batch;
    if (auto ok = build(session, batch, *gen); !ok) return fail(std::move(ok.error()).context(what));
    if (batch.empty()) return {};
    auto ok = session.commit(batch, *gen);
    if (ok) return {};
    if (ok.error().sys_errno != ERESTART) return fail(std::move(ok.error()).context(what));
    backoff(attempt);
  }
  return fail(cni::try_again_later(std::string(what) + ": the nftables ruleset kept changing"));
}

Expected<void> transact(std::string_view what, const Build& build) {
  auto session = nft::Session::open();
  if (!session) return fail(std::move(session.error()).context(what));
  return transact(*session, what, build);
}

// Makes the selected rules of `chains` exactly `want`. `in_place_at`, when given, is set to the
// generation at which they all were already in place (nothing to change).
Expected<void> replace(nft::Session& session, std::string_view what,
                       const std::vector<nft::Rule>& want,
                       const std::vector<nft::ChainRef>& chains, const Selector& selected,
                       std::optional<uint32_t>* in_place_at = nullptr,
                       std::optional<uint32_t> first_gen = std::nullopt) {
  return transact(session, what, [&](nft::Session& s, nft::Batch& b, uint32_t gen) -> Expected<void> {
    auto have = collect(s, chains, selected);
    if (!have) return fail(std::move(have.error()));
    if (!detail::plan_replace(*have, want, b) && in_place_at != nullptr) *in_place_at = gen;
    return {};
  }, first_gen);
}

Expected<void> replace(std::string_view what, const std::vector<nft::Rule>& want,
                       const std::vector<nft::ChainRef>& chains, const Selector& selected) {
  auto session = nft::Session::open();
  if (!session) return fail(std::move(session.error()).context(what));
  return replace(*session, what, want, chains, selected);
}

Expected<void> remove(std::string_view what, const std::vector<nft::ChainRef>& chains,
                      const Selector& selected) {
  return transact(what, [&](nft::Session& s, nft::Batch& b, uint32_t) -> Expected<void> {
    auto have = collect(s, chains, selected);
    if (!have) return fail(std::move(have.error()));
    for (const auto& r : *have) b.del_rule(r);
    return {};
  });
}

// Read only: the table, the chains the rules live in, then the rules themselves.
Expected<void> check(std::string_view what, const std::vector<nft::Rule>& want,
                     const std::vector<nft::ChainRef>& chains, const Selector& selected) {
  auto session = nft::Session::open();
  if (!session) return fail(std::move(session.error()).context(what));
  for (nft::Table t : kTables) {
    std::set<std::string_view> needed;
    for (const auto& r : want) {
      if (r.table == t) needed.insert(r.chain);
    }
    if (needed.empty()) continue;
    const std::string table =
        "table " + std::string(nft::family_name(t)) + " " + std::string(kTableName);
    auto has_table = session->has_table(t);
    if (!has_table) return fail(std::move(has_table.error()).context(what));
    if (!*has_table) {
      return fail(cni::check_failed(std::string(what) + ": " + table + " is missing"));
    }
    for (std::string_view chain : needed) {
      auto has = session->has_chain({.table = t, .name = chain});
      if (!has) return fail(std::move(has.error()).context(what));
      if (!*has) {
        return fail(cni::check_failed(std::string(what) + ": chain " + std::string(chain) + " of " +
                                      table + " is missing"));
      }
    }
  }
  auto have = collect(*session, chains, selected);
  if (!have) return fail(std::move(have.error()).context(what));
  const detail::Diff d = detail::diff(*have, want);
  if (!d.missing.empty()) {
    const nft::Rule& r = *d.missing.front();
    return fail(cni::check_failed(std::string(what) + ": missing rule in chain " + r.chain + ": " +
                                  r.text));
  }
  if (!d.unexpected.empty()) {
    const nft::Installed& r = *d.unexpected.front();
    return fail(cni::check_failed(std::string(what) + ": unexpected rule in chain " + r.chain +
                                  " (handle " + std::to_string(r.handle) + ", comment " +
                                  quoted(r.tag) + ")"));
  }
  return {};
}

std::string network_what(std::string_view verb, std::string_view network) {
  return std::string(verb) + " firewall of network " + quoted(network);
}

std::string endpoint_what(std::string_view verb, std::string_view network,
                          std::string_view container_id, std::string_view ifname) {
  return std::string(verb) + " firewall of endpoint " + quoted(container_id) + "/" +
         quoted(ifname) + " on network " + quoted(network);
}

Selector exactly(std::string tag) {
  return [tag = std::move(tag)](std::string_view t) { return t == tag; };
}

// What ensure_network found in place, and where: in the netns with that cookie, at that
// ruleset generation. Generations only grow, and any change to the netns's ruleset (ours,
// another process's, `nft flush ruleset`) makes a new one: at the same generation nothing can
// have changed, and the rules need no second look. This saves a whole-table dump on every ADD
// of a process that lives on (weir-agent); a plugin process asks once and exits.
// The rules are a function of the NetworkRules alone, which stand for them here: building the
// rules took half of an ensure_network that found them in place.
struct InPlace {
  NetworkRules rules;
  uint64_t netns = 0;
  uint32_t gen = 0;
};
std::mutex g_in_place_mu;
std::map<std::string, InPlace> g_in_place;  // by network

}  // namespace

Expected<void> ensure_network(const NetworkRules& rules) {
  const std::string what = network_what("ensure", rules.network);
  if (auto ok = detail::validate(rules); !ok) return fail(std::move(ok.error()).context(what));
  auto session = nft::Session::open();
  if (!session) return fail(std::move(session.error()).context(what));
  // Asked only when something is remembered: a plugin process, which asks once, pays nothing.
  std::optional<InPlace> remembered;
  {
    std::lock_guard<std::mutex> hold(g_in_place_mu);
    auto it = g_in_place.find(rules.network);
    if (it != g_in_place.end() && it->second.rules == rules) remembered = it->second;
  }
  std::optional<uint32_t> gen;
  std::optional<uint64_t> cookie;  // of the netns, asked once
  auto netns_cookie = [&] {
    if (!cookie) {
      if (auto c = session->netns_cookie()) cookie = *c;
    }
    return cookie;
  };
  if (remembered) {
    auto now = session->genid();
    if (!now) return fail(std::move(now.error()).context(what));
    if (netns_cookie() == remembered->netns && *now == remembered->gen) return {};
    gen = *now;  // the replace below starts from it
  }
  std::optional<uint32_t> in_place_at;
  auto ok = replace(*session, what, detail::network_rules(rules), detail::network_chains(),
                    exactly(detail::network_tag(rules.network)), &in_place_at, gen);
  if (ok && in_place_at) {
    if (netns_cookie()) {
      std::lock_guard<std::mutex> hold(g_in_place_mu);
      if (g_in_place.size() >= 256) g_in_place.clear();  // bounded: a few networks in practice
      g_in_place[rules.network] = {.rules = rules, .netns = *cookie, .gen = *in_place_at};
    }
  }
  return ok;
}

Expected<void> del_network(std::string_view network) {
  const std::string what = network_what("delete", network);
  if (auto ok = detail::validate_network_name(network); !ok) {
    return fail(std::move(ok.error()).context(what));
  }
  const std::string name(network);
  // Its endpoints' rules too, the spoof checks in table bridge weir among them.
  return remove(what, detail::all_chains(),
                [name](std::string_view tag) { return detail::owned_by_network(tag, name); });
}

Expected<void> ensure_endpoint(const EndpointRules& rules) {
  const std::string what = endpoint_what("ensure", rules.network, rules.container_id, rules.ifname);
  if (auto ok = detail::validate(rules); !ok) return fail(std::move(ok.error()).context(what));
  return replace(what, detail::endpoint_rules(rules), detail::endpoint_chains(),
                 exactly(detail::endpoint_tag(rules.network, rules.container_id, rules.ifname)));
}

Expected<void> del_endpoint(std::string_view network, std::string_view container_id,
                            std::string_view ifname) {
  const std::string what = endpoint_what("delete", network, container_id, ifname);
  if (auto ok = detail::validate_key(network, container_id, ifname); !ok) {
    return fail(std::move(ok.error()).context(what));
  }
  return remove(what, detail::endpoint_chains(),
                exactly(detail::endpoint_tag(network, container_id, ifname)));
}

Expected<void> check_network(const NetworkRules& rules) {
  const std::string what = network_what("check", rules.network);
  if (auto ok = detail::validate(rules); !ok) return fail(std::move(ok.error()).context(what));
  return check(what, detail::network_rules(rules), detail::network_chains(),
               exactly(detail::network_tag(rules.network)));
}

Expected<void> check_endpoint(const EndpointRules& rules) {
  const std::string what = endpoint_what("check", rules.network, rules.container_id, rules.ifname);
  if (auto ok = detail::validate(rules); !ok) return fail(std::move(ok.error()).context(what));
  return check(what, detail::endpoint_rules(rules), detail::endpoint_chains(),
               exactly(detail::endpoint_tag(rules.network, rules.container_id, rules.ifname)));
}

Expected<std::vector<std::string>> list_networks() {
  constexpr std::string_view kWhat = "list firewall networks";
  auto session = nft::Session::open();
  if (!session) return fail(std::move(session.error()).context(kWhat));
  std::set<std::string> names;
  for (nft::Table table : kTables) {
    auto rules = session->list_rules({.table = table, .name = {}});
    if (!rules) return fail(std::move(rules.error()).context(kWhat));
    for (const auto& r : *rules) {
      if (auto name = detail::network_of(r.tag)) names.insert(std::move(*name));
    }
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Expected<void> del_table() {
  const std::string what = "delete tables " + std::string(kTableName);
  // Only the tables there are (a missing one would fail the whole batch with ENOENT), read at
  // the batch's generation.
  return transact(what, [](nft::Session& s, nft::Batch& b, uint32_t) -> Expected<void> {
    for (nft::Table table : kTables) {
      auto has = s.has_table(table);
      if (!has) return fail(std::move(has.error()));
      if (*has) b.del_table(table);
    }
    return {};
  });
}

Expected<bool> del_table_if_unused() {
  const std::string what = "delete unused tables " + std::string(kTableName);
  bool deleted = false;
  auto ok = transact(what, [&](nft::Session& s, nft::Batch& b, uint32_t) -> Expected<void> {
    deleted = false;
    for (nft::Table table : kTables) {
      auto has = s.has_table(table);
      if (!has) return fail(std::move(has.error()));
      if (!*has) continue;
      auto rules = s.list_rules({.table = table, .name = {}});
      if (!rules) return fail(std::move(rules.error()));
      const bool used = std::any_of(rules->begin(), rules->end(), [](const nft::Installed& r) {
        return detail::network_of(r.tag).has_value();
      });
      if (used) continue;
      b.del_table(table);
      deleted = true;
    }
    return {};
  });
  if (!ok) return fail(std::move(ok.error()));
  return deleted;
}

}  // namespace weir::firewall
