// nf_tables over netlink for lib/firewall only: a rule builder, the reads the firewall needs
// (generation id, the rules of one chain, one table or chain) and atomic batches. libmnl and
// libnftnl stay inside nft.cpp; this header only forward-declares their types.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"

struct nftnl_rule;  // libnftnl
struct mnl_socket;  // libmnl
struct nlmsghdr;    // <linux/netlink.h>

namespace weir::firewall::nft {

struct RuleFree {
  void operator()(nftnl_rule* r) const;
};
using RulePtr = std::unique_ptr<nftnl_rule, RuleFree>;

// weir's two tables, both named kTableName: `table inet weir` for what the IP layer sees
// (forwarding, NAT), `table bridge weir` for frames as the bridge switches them.
enum class Table { kInet, kBridge };
std::string_view family_name(Table table);  // "inet", "bridge"

enum class Hook { kPrerouting, kForward, kOutput, kPostrouting };

// A chain of one of weir's tables. A base chain has a hook; its policy is always accept, so
// that traffic that is none of weir's business passes.
struct ChainDef {
  std::string_view name;
  std::optional<Hook> hook = std::nullopt;
  bool nat = false;  // type nat, else type filter
  int priority = 0;
  Table table = Table::kInet;
};

// A chain by its table and name, which is unique only within its table.
struct ChainRef {
  Table table = Table::kInet;
  std::string_view name;
  friend bool operator==(const ChainRef&, const ChainRef&) = default;
};

enum class Where { kHead, kTail };

// A rule ready to add: its expressions, where it goes, its tag and a readable form for messages.
struct Rule {
  Table table = Table::kInet;
  std::string chain;
  std::string tag;
  Where where = Where::kTail;
  std::string text;  // nft syntax, for messages: `oifname "weir0" ct status dnat accept`
  RulePtr nl;        // table, chain, family, userdata and expressions set
  // Canonical form of the expressions: equal for a built rule and the kernel's copy of it.
  std::string signature() const;
};

// Builds a rule match by match, in nft's order; the last call is a verdict or a NAT statement.
class RuleBuilder {
 public:
  explicit RuleBuilder(std::string_view chain, Table table = Table::kInet);
  RuleBuilder(RuleBuilder&&) noexcept;
  ~RuleBuilder();

  RuleBuilder& nfproto(net::Family family);
  RuleBuilder& iifname(std::string_view name, bool equal = true);
  RuleBuilder& oifname(std::string_view name, bool equal = true);
  // Address matches need nfproto() first: in an inet table the payload offsets are per family.
  RuleBuilder& saddr(const net::Cidr& prefix, bool equal = true);
  RuleBuilder& daddr(const net::Cidr& prefix, bool equal = true);
  RuleBuilder& daddr(const net::IpAddr& addr, bool equal = true);
  RuleBuilder& fib_daddr_local();  // `fib daddr type local`
  RuleBuilder& l4proto(uint8_t proto, std::string_view name);
  RuleBuilder& dport(uint16_t port);  // needs l4proto() first
  RuleBuilder& ct_established_related();
  RuleBuilder& ct_dnat(bool set = true);  // `ct status dnat`, or its negation
  // `ether saddr`: the source of the Ethernet header, for a table bridge chain.
  RuleBuilder& ether_saddr(const net::Mac& mac, bool equal = true);

  RuleBuilder& accept();
  RuleBuilder& drop();
  RuleBuilder& jump(std::string_view chain);
  RuleBuilder& masquerade();
  RuleBuilder& dnat(const net::IpAddr& to, uint16_t port);

  // Hands the rule over; the builder is spent.
  Rule build(std::string tag, Where where);

 private:
  RuleBuilder& ifname(bool input, std::string_view name, bool equal);
  RuleBuilder& addr(bool source, const net::Cidr& prefix, bool equal);
  RuleBuilder& verdict(int code, std::string_view chain, std::string_view word);
  void words(std::string_view w);

  Table table_;
  std::string chain_;
  std::string text_;
  net::Family family_ = net::Family::kV4;
  RulePtr nl_;
};

// A rule as the kernel has it.
struct Installed {
  Table table = Table::kInet;
  std::string chain;
  uint64_t handle = 0;
  std::string tag;        // "" when the rule has no comment
  std::string signature;  // as Rule::signature()
};

// The changes of one transaction, sent as NFNL_MSG_BATCH_BEGIN … END.
class Batch {
 public:
  void add_table(Table table);  // NLM_F_CREATE without NLM_F_EXCL: an existing table is fine
  void add_chain(const ChainDef& chain);
  void add_rule(const Rule& rule);
  void del_rule(const Installed& rule);
  void del_table(Table table);
  bool empty() const { return msgs_.empty(); }

  struct Msg {
    std::vector<char> bytes;  // one netlink message; its seq is set when sent
    std::string what;         // "add rule to chain forward", for errors
    std::string detail;       // the rule, for Error::details
  };
  // What commit() sends between NFNL_MSG_BATCH_BEGIN and END, in order (seq 0 until then).
  const std::vector<Msg>& messages() const { return msgs_; }
  // Every message read back with libnftnl (type, flags, family, and the table, chain or rule
  // it carries, a rule's expressions as Rule::signature() prints them) and its bytes in hex:
  // the batch as text, without a kernel (golden files of tests/unit).
  std::string text() const;

 private:
  friend class Session;
  std::vector<Msg> msgs_;
};

// A NETLINK_NETFILTER socket in the netns of the thread that opened it.
class Session {
 public:
  static Expected<Session> open();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  // The ruleset generation: a batch sent with it fails with ERESTART if anything changed since.
  Expected<uint32_t> genid();
  // The netns's cookie (SO_NETNS_COOKIE): unique for the system's uptime, unlike its inode.
  Expected<uint64_t> netns_cookie() const;
  Expected<bool> has_table(Table table);
  Expected<bool> has_chain(ChainRef chain);
  // The rules of one chain, or of its whole table when the chain's name is empty. A missing
  // table or chain lists nothing.
  Expected<std::vector<Installed>> list_rules(ChainRef chain);
  // All or nothing. Fails with sys_errno ERESTART when genid is stale; the error names the
  // message the kernel refused: "add rule to chain nat-postrouting: Operation not supported".
  Expected<void> commit(const Batch& batch, uint32_t genid);

 private:
  Session(mnl_socket* sock, uint32_t portid);
  // Sends one request and reads replies until its ACK or NLMSG_DONE, passing each to cb.
  Expected<void> request(std::vector<char> msg, std::string_view what,
                         int (*cb)(const nlmsghdr*, void*), void* data);
  mnl_socket* sock_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
};

}  // namespace weir::firewall::nft
