// nf_tables messages with libnftnl, sent over a libmnl socket. Expressions are laid out the way
// nft(8) lays them out, so that `nft list table inet weir` (and bridge weir) shows readable
// rules.
#include "lib/firewall/nft.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <utility>

#include "lib/firewall/firewall.hpp"

namespace weir::firewall::nft {

void RuleFree::operator()(nftnl_rule* r) const {
  nftnl_rule_free(r);
}

namespace {

template <auto fn>
struct Free {
  template <class T>
  void operator()(T* p) const {
    fn(p);
  }
};
using TablePtr = std::unique_ptr<nftnl_table, Free<nftnl_table_free>>;
using ChainPtr = std::unique_ptr<nftnl_chain, Free<nftnl_chain_free>>;
using ExprPtr = std::unique_ptr<nftnl_expr, Free<nftnl_expr_free>>;
using GenPtr = std::unique_ptr<nftnl_gen, Free<nftnl_gen_free>>;
using UdataPtr = std::unique_ptr<nftnl_udata_buf, Free<nftnl_udata_buf_free>>;
using ExprIterPtr = std::unique_ptr<nftnl_expr_iter, Free<nftnl_expr_iter_destroy>>;

// Big enough for one rule message and for one read of a dump (the kernel fills up to 32 KiB).
constexpr size_t kBufSize = 32768;

// libnftnl allocations fail only when memory is exhausted; treat it like operator new does.
template <class T>
T* checked(T* p) {
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

const std::string kTable(kTableName);

uint8_t nfproto_of(net::Family f) {
  return f == net::Family::kV4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
}

// The bridge family numbers the hooks it shares with inet as inet does (NF_BR_PRE_ROUTING = 0,
// NF_BR_FORWARD = 2, NF_BR_LOCAL_OUT = 3, NF_BR_POST_ROUTING = 4 in <linux/netfilter_bridge.h>),
// so one mapping serves both tables.
uint32_t hook_number(Hook hook) {
  switch (hook) {
    case Hook::kPrerouting:
      return NF_INET_PRE_ROUTING;
    case Hook::kForward:
      return NF_INET_FORWARD;
    case Hook::kOutput:
      return NF_INET_LOCAL_OUT;
    case Hook::kPostrouting:
      return NF_INET_POST_ROUTING;
  }
  return NF_INET_FORWARD;
}

uint16_t nfproto_of(Table t) {
  return t == Table::kInet ? NFPROTO_INET : NFPROTO_BRIDGE;
}

// "inet weir", "bridge weir": a table as nft(8) names it, for messages.
std::string table_text(Table t) {
  return std::string(family_name(t)) + " " + kTable;
}

// One message for the table's family, its header and payload built by fill. Its seq is set
// when sent.
template <class Fill>
std::vector<char> message(Table table, uint16_t type, uint16_t flags, Fill&& fill) {
  std::vector<char> buf(kBufSize);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), type, nfproto_of(table), flags, 0);
  fill(nlh);
  buf.resize(NLMSG_ALIGN(nlh->nlmsg_len));
  return buf;
}

std::string signature_of(const nftnl_rule* r) {
  std::string out;
  ExprIterPtr it(checked(nftnl_expr_iter_create(r)));
  std::array<char, 1024> buf{};
  for (nftnl_expr* e = nftnl_expr_iter_next(it.get()); e != nullptr;
       e = nftnl_expr_iter_next(it.get())) {
    buf[0] = '\0';
    nftnl_expr_snprintf(buf.data(), buf.size(), e, NFTNL_OUTPUT_DEFAULT, 0);
    out += "[";
    out += nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    out += " ";
    out += buf.data();
    out += "]";
  }
  return out;
}

int on_udata(const nftnl_udata* attr, void* data) {
  if (nftnl_udata_type(attr) != NFTNL_UDATA_RULE_COMMENT) return 0;
  const auto* value = static_cast<const char*>(nftnl_udata_get(attr));
  const uint8_t len = nftnl_udata_len(attr);
  if (len > 0 && value[len - 1] == '\0') *static_cast<std::string*>(data) = std::string(value);
  return 0;
}

std::string tag_of(const nftnl_rule* r) {
  std::string tag;
  if (!nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) return tag;
  uint32_t len = 0;
  const void* data = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
  if (data != nullptr) nftnl_udata_parse(data, len, on_udata, &tag);
  return tag;
}

// Expression helpers; every load goes to register 1, as nft does for a single match.
void add(nftnl_rule* r, ExprPtr e) {
  nftnl_rule_add_expr(r, e.release());
}

ExprPtr expr(const char* name) {
  return ExprPtr(checked(nftnl_expr_alloc(name)));
}

void meta_load(nftnl_rule* r, uint32_t key) {
  auto e = expr("meta");
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_DREG, NFT_REG_1);
  add(r, std::move(e));
}

void payload_load(nftnl_rule* r, uint32_t base, uint32_t offset, uint32_t len) {
  auto e = expr("payload");
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  add(r, std::move(e));
}

void ct_load(nftnl_rule* r, uint32_t key) {
  auto e = expr("ct");
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CT_DREG, NFT_REG_1);
  add(r, std::move(e));
}

void bitwise(nftnl_rule* r, const void* mask, uint32_t len) {
  static constexpr std::array<uint8_t, 16> kZero{};
  auto e = expr("bitwise");
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BITWISE_LEN, len);
  nftnl_expr_set(e.get(), NFTNL_EXPR_BITWISE_MASK, mask, len);
  nftnl_expr_set(e.get(), NFTNL_EXPR_BITWISE_XOR, kZero.data(), len);
  add(r, std::move(e));
}

void cmp(nftnl_rule* r, bool equal, const void* data, uint32_t len) {
  auto e = expr("cmp");
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CMP_OP, equal ? NFT_CMP_EQ : NFT_CMP_NEQ);
  nftnl_expr_set(e.get(), NFTNL_EXPR_CMP_DATA, data, len);
  add(r, std::move(e));
}

void immediate(nftnl_rule* r, uint32_t reg, const void* data, uint32_t len) {
  auto e = expr("immediate");
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_DREG, reg);
  nftnl_expr_set(e.get(), NFTNL_EXPR_IMM_DATA, data, len);
  add(r, std::move(e));
}

// A masked u32 test: any of the bits set (`ct status dnat`), or none.
void bits_set(nftnl_rule* r, uint32_t mask, bool set = true) {
  const uint32_t zero = 0;
  bitwise(r, &mask, sizeof(mask));
  cmp(r, !set, &zero, sizeof(zero));
}

using cni::quoted;

}  // namespace

std::string_view family_name(Table table) {
  return table == Table::kInet ? "inet" : "bridge";
}

// --- Rule, RuleBuilder -------------------------------------------------------------------------

std::string Rule::signature() const {
  return signature_of(nl.get());
}

RuleBuilder::RuleBuilder(std::string_view chain, Table table)
    : table_(table), chain_(chain), nl_(checked(nftnl_rule_alloc())) {}
RuleBuilder::RuleBuilder(RuleBuilder&&) noexcept = default;
RuleBuilder::~RuleBuilder() = default;

void RuleBuilder::words(std::string_view w) {
  if (!text_.empty()) text_ += ' ';
  text_ += w;
}

RuleBuilder& RuleBuilder::nfproto(net::Family family) {
  family_ = family;
  const uint8_t proto = nfproto_of(family);
  meta_load(nl_.get(), NFT_META_NFPROTO);
  cmp(nl_.get(), true, &proto, sizeof(proto));
  words(family == net::Family::kV4 ? "meta nfproto ipv4" : "meta nfproto ipv6");
  return *this;
}

RuleBuilder& RuleBuilder::ifname(bool input, std::string_view name, bool equal) {
  // The kernel compares the whole IFNAMSIZ buffer: the name NUL-padded.
  std::array<char, IFNAMSIZ> padded{};
  std::memcpy(padded.data(), name.data(), std::min(name.size(), padded.size() - 1));
  meta_load(nl_.get(), input ? NFT_META_IIFNAME : NFT_META_OIFNAME);
  cmp(nl_.get(), equal, padded.data(), padded.size());
  words(std::string(input ? "iifname " : "oifname ") + (equal ? "" : "!= ") + quoted(name));
  return *this;
}

RuleBuilder& RuleBuilder::iifname(std::string_view name, bool equal) {
  return ifname(true, name, equal);
}
RuleBuilder& RuleBuilder::oifname(std::string_view name, bool equal) {
  return ifname(false, name, equal);
}

RuleBuilder& RuleBuilder::addr(bool source, const net::Cidr& prefix, bool equal) {
  const bool v4 = prefix.family() == net::Family::kV4;
  const net::Cidr network = prefix.network();
  const uint32_t len = v4 ? 4 : 16;
  const uint32_t offset = v4 ? (source ? 12 : 16) : (source ? 8 : 24);  // RFC 791, RFC 8200
  payload_load(nl_.get(), NFT_PAYLOAD_NETWORK_HEADER, offset, len);
  const int bits = network.addr().bits();
  if (network.prefix_len() < bits) {
    std::array<uint8_t, 16> mask{};
    for (int i = 0; i < network.prefix_len(); ++i) mask[i / 8] |= uint8_t(0x80u >> (i % 8));
    bitwise(nl_.get(), mask.data(), len);
  }
  cmp(nl_.get(), equal, network.addr().data(), len);
  std::string w = std::string(v4 ? "ip " : "ip6 ") + (source ? "saddr " : "daddr ");
  if (!equal) w += "!= ";
  w += network.prefix_len() < bits ? network.str() : network.addr().str();
  words(w);
  return *this;
}

RuleBuilder& RuleBuilder::saddr(const net::Cidr& prefix, bool equal) {
  return addr(true, prefix, equal);
}
RuleBuilder& RuleBuilder::daddr(const net::Cidr& prefix, bool equal) {
  return addr(false, prefix, equal);
}
RuleBuilder& RuleBuilder::daddr(const net::IpAddr& a, bool equal) {
  return addr(false, net::Cidr(a, a.bits()), equal);
}

RuleBuilder& RuleBuilder::fib_daddr_local() {
  auto e = expr("fib");
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_FIB_DREG, NFT_REG_1);
  add(nl_.get(), std::move(e));
  const uint32_t local = RTN_LOCAL;
  cmp(nl_.get(), true, &local, sizeof(local));
  words("fib daddr type local");
  return *this;
}

RuleBuilder& RuleBuilder::l4proto(uint8_t proto, std::string_view name) {
  meta_load(nl_.get(), NFT_META_L4PROTO);
  cmp(nl_.get(), true, &proto, sizeof(proto));
  words("meta l4proto " + std::string(name));
  return *this;
}

RuleBuilder& RuleBuilder::dport(uint16_t port) {
  // The destination port is at offset 2 of TCP, UDP and SCTP headers alike.
  const uint16_t be = htons(port);
  payload_load(nl_.get(), NFT_PAYLOAD_TRANSPORT_HEADER, 2, sizeof(be));
  cmp(nl_.get(), true, &be, sizeof(be));
  words("th dport " + std::to_string(port));
  return *this;
}

RuleBuilder& RuleBuilder::ct_established_related() {
  ct_load(nl_.get(), NFT_CT_STATE);
  bits_set(nl_.get(), NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
  words("ct state established,related");
  return *this;
}

RuleBuilder& RuleBuilder::ct_dnat(bool set) {
  ct_load(nl_.get(), NFT_CT_STATUS);
  bits_set(nl_.get(), IPS_DST_NAT, set);
  words(set ? "ct status dnat" : "ct status ! dnat");
  return *this;
}

RuleBuilder& RuleBuilder::ether_saddr(const net::Mac& mac, bool equal) {
  // The source address is bytes 6..11 of the Ethernet header (IEEE 802.3, after the
  // destination), whatever the ethertype: ARP is covered as well as IPv4 and IPv6.
  constexpr uint32_t kOffset = 6, kLen = 6;
  payload_load(nl_.get(), NFT_PAYLOAD_LL_HEADER, kOffset, kLen);
  cmp(nl_.get(), equal, mac.data(), kLen);
  words(std::string("ether saddr ") + (equal ? "" : "!= ") + mac.str());
  return *this;
}

RuleBuilder& RuleBuilder::verdict(int code, std::string_view chain, std::string_view word) {
  auto e = expr("immediate");
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(code));
  if (!chain.empty()) nftnl_expr_set_str(e.get(), NFTNL_EXPR_IMM_CHAIN, std::string(chain).c_str());
  add(nl_.get(), std::move(e));
  words(chain.empty() ? std::string(word) : std::string(word) + " " + std::string(chain));
  return *this;
}

RuleBuilder& RuleBuilder::accept() {
  return verdict(NF_ACCEPT, {}, "accept");
}
RuleBuilder& RuleBuilder::drop() {
  return verdict(NF_DROP, {}, "drop");
}
RuleBuilder& RuleBuilder::jump(std::string_view chain) {
  return verdict(NFT_JUMP, chain, "jump");
}

RuleBuilder& RuleBuilder::masquerade() {
  add(nl_.get(), expr("masq"));
  words("masquerade");
  return *this;
}

RuleBuilder& RuleBuilder::dnat(const net::IpAddr& to, uint16_t port) {
  const uint16_t be = htons(port);
  immediate(nl_.get(), NFT_REG_1, to.data(), static_cast<uint32_t>(to.size()));
  immediate(nl_.get(), NFT_REG_2, &be, sizeof(be));
  auto e = expr("nat");
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_FAMILY, nfproto_of(to.family()));
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_ADDR_MAX, NFT_REG_1);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_PROTO_MAX, NFT_REG_2);
  // What the kernel would imply from the registers; set so the kernel's copy compares equal.
  nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_FLAGS,
                     NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED);
  add(nl_.get(), std::move(e));
  const bool v4 = to.is_v4();
  // Appended: GCC 12 -O3 warns falsely (-Wrestrict) on "literal" + std::string&&.
  std::string text = v4 ? "dnat ip to " : "dnat ip6 to [";
  text.append(to.str()).append(v4 ? ":" : "]:").append(std::to_string(port));
  words(text);
  return *this;
}

Rule RuleBuilder::build(std::string tag, Where where) {
  nftnl_rule_set_u32(nl_.get(), NFTNL_RULE_FAMILY, nfproto_of(table_));
  nftnl_rule_set_str(nl_.get(), NFTNL_RULE_TABLE, kTable.c_str());
  nftnl_rule_set_str(nl_.get(), NFTNL_RULE_CHAIN, chain_.c_str());
  // The tag is a comment as nft(8) writes it, so `nft list` shows it.
  UdataPtr udata(checked(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN)));
  nftnl_udata_put_strz(udata.get(), NFTNL_UDATA_RULE_COMMENT, tag.c_str());
  nftnl_rule_set_data(nl_.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(udata.get()),
                      nftnl_udata_buf_len(udata.get()));
  std::string text = text_ + " comment " + quoted(tag);
  return Rule{.table = table_,
              .chain = std::move(chain_),
              .tag = std::move(tag),
              .where = where,
              .text = std::move(text),
              .nl = std::move(nl_)};
}

// --- Batch -------------------------------------------------------------------------------------

void Batch::add_table(Table table) {
  TablePtr t(checked(nftnl_table_alloc()));
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kTable.c_str());
  msgs_.push_back({message(table, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK,
                           [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, t.get()); }),
                   "add table " + table_text(table),
                   {}});
}

void Batch::add_chain(const ChainDef& def) {
  ChainPtr c(checked(nftnl_chain_alloc()));
  const std::string name(def.name);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, kTable.c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, name.c_str());
  if (def.hook) {
    const uint32_t hooknum = hook_number(*def.hook);
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, hooknum);
    nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, def.priority);
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, def.nat ? "nat" : "filter");
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
  }
  // NLM_F_CREATE without NLM_F_EXCL: an existing chain with the same hook is left as it is.
  msgs_.push_back({message(def.table, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK,
                           [&](nlmsghdr* nlh) { nftnl_chain_nlmsg_build_payload(nlh, c.get()); }),
                   "add chain " + name,
                   {}});
}

void Batch::add_rule(const Rule& rule) {
  // Without NLM_F_APPEND (and without a position) the kernel inserts at the head of the chain.
  const uint16_t flags = NLM_F_CREATE | NLM_F_ACK | (rule.where == Where::kTail ? NLM_F_APPEND : 0);
  msgs_.push_back(
      {message(rule.table, NFT_MSG_NEWRULE, flags,
               [&](nlmsghdr* nlh) { nftnl_rule_nlmsg_build_payload(nlh, rule.nl.get()); }),
       "add rule to chain " + rule.chain, rule.text});
}

void Batch::del_rule(const Installed& rule) {
  RulePtr r(checked(nftnl_rule_alloc()));
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, kTable.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, rule.chain.c_str());
  nftnl_rule_set_u64(r.get(), NFTNL_RULE_HANDLE, rule.handle);
  msgs_.push_back({message(rule.table, NFT_MSG_DELRULE, NLM_F_ACK,
                           [&](nlmsghdr* nlh) { nftnl_rule_nlmsg_build_payload(nlh, r.get()); }),
                   "delete rule " + std::to_string(rule.handle) + " from chain " + rule.chain,
                   rule.tag});
}

void Batch::del_table(Table table) {
  TablePtr t(checked(nftnl_table_alloc()));
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kTable.c_str());
  msgs_.push_back({message(table, NFT_MSG_DELTABLE, NLM_F_ACK,
                           [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, t.get()); }),
                   "delete table " + table_text(table),
                   {}});
}

namespace {

std::string flag_names(uint16_t flags) {
  static constexpr std::pair<uint16_t, const char*> kNames[] = {
      {NLM_F_REQUEST, "request"}, {NLM_F_ACK, "ack"},         {NLM_F_REPLACE, "replace"},
      {NLM_F_EXCL, "excl"},       {NLM_F_CREATE, "create"},   {NLM_F_APPEND, "append"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if ((flags & bit) == 0) continue;
    if (!out.empty()) out += ',';
    out += name;
    flags = static_cast<uint16_t>(flags & ~bit);
  }
  if (flags != 0) {
    char rest[16];
    std::snprintf(rest, sizeof(rest), "0x%x", flags);
    out += (out.empty() ? "" : ",") + std::string(rest);
  }
  return out.empty() ? "0" : out;
}

std::string family_text(uint8_t family) {
  switch (family) {
    case NFPROTO_INET:
      return "inet";
    case NFPROTO_BRIDGE:
      return "bridge";
    default:
      return std::to_string(family);
  }
}

std::string hook_text(uint32_t hook) {
  switch (hook) {
    case NF_INET_PRE_ROUTING:
      return "prerouting";
    case NF_INET_FORWARD:
      return "forward";
    case NF_INET_LOCAL_OUT:
      return "output";
    case NF_INET_POST_ROUTING:
      return "postrouting";
    default:
      return std::to_string(hook);
  }
}

// What one message of a batch carries, as libnftnl reads it back.
std::string decoded(const nlmsghdr* nlh) {
  const uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
  switch (type) {
    case NFT_MSG_NEWTABLE:
    case NFT_MSG_DELTABLE: {
      TablePtr t(checked(nftnl_table_alloc()));
      if (nftnl_table_nlmsg_parse(nlh, t.get()) < 0) return "unreadable table";
      return std::string(type == NFT_MSG_NEWTABLE ? "newtable" : "deltable") + " " +
             nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME);
    }
    case NFT_MSG_NEWCHAIN: {
      ChainPtr c(checked(nftnl_chain_alloc()));
      if (nftnl_chain_nlmsg_parse(nlh, c.get()) < 0) return "unreadable chain";
      std::string out = std::string("newchain ") + nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE) +
                        " " + nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME);
      if (nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM)) {
        out += std::string(" type ") + nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TYPE) + " hook " +
               hook_text(nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM)) + " priority " +
               std::to_string(nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO)) + " policy " +
               (nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY) == NF_ACCEPT ? "accept" : "drop");
      }
      return out;
    }
    case NFT_MSG_NEWRULE:
    case NFT_MSG_DELRULE: {
      RulePtr r(checked(nftnl_rule_alloc()));
      if (nftnl_rule_nlmsg_parse(nlh, r.get()) < 0) return "unreadable rule";
      std::string out = std::string(type == NFT_MSG_NEWRULE ? "newrule " : "delrule ") +
                        nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE) + " " +
                        nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
      if (nftnl_rule_is_set(r.get(), NFTNL_RULE_HANDLE)) {
        out += " handle " + std::to_string(nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE));
      }
      if (const std::string tag = tag_of(r.get()); !tag.empty()) out += " comment " + quoted(tag);
      // One expression a line, for diffs that are easy to read.
      std::string sig = signature_of(r.get());
      for (size_t at = sig.find("]["); at != std::string::npos; at = sig.find("][", at)) {
        sig.replace(at, 2, "]\n  [");
      }
      if (!sig.empty()) out += "\n  " + sig;
      return out;
    }
    default:
      return "message type " + std::to_string(type);
  }
}

}  // namespace

std::string Batch::text() const {
  std::string out;
  for (const auto& m : msgs_) {
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(m.bytes.data());
    const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    out += "# " + m.what + "\n";
    out += family_text(nfg->nfgen_family) + " flags " + flag_names(nlh->nlmsg_flags) + ": " +
           decoded(nlh) + "\n";
    char line[8];
    for (size_t i = 0; i < nlh->nlmsg_len; ++i) {
      std::snprintf(line, sizeof(line), i % 16 == 0 ? "  %02x" : " %02x",
                    static_cast<unsigned>(static_cast<uint8_t>(m.bytes[i])));
      out += line;
      if (i % 16 == 15 || i + 1 == nlh->nlmsg_len) out += '\n';
    }
  }
  return out;
}

// --- Session -----------------------------------------------------------------------------------

Session::Session(mnl_socket* sock, uint32_t portid) : sock_(sock), portid_(portid) {}

Session::Session(Session&& other) noexcept
    : sock_(std::exchange(other.sock_, nullptr)), portid_(other.portid_), seq_(other.seq_) {}

Session& Session::operator=(Session&& other) noexcept {
  if (this != &other) {
    if (sock_ != nullptr) mnl_socket_close(sock_);
    sock_ = std::exchange(other.sock_, nullptr);
    portid_ = other.portid_;
    seq_ = other.seq_;
  }
  return *this;
}

Session::~Session() {
  if (sock_ != nullptr) mnl_socket_close(sock_);
}

Expected<Session> Session::open() {
  mnl_socket* sock = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (sock == nullptr) return fail(cni::sys_error(errno, "open nftables netlink socket"));
  if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int err = errno;
    mnl_socket_close(sock);
    return fail(cni::sys_error(err, "bind nftables netlink socket"));
  }
  // Errors then carry only the header of the refused message, not all of it.
  int one = 1;
  mnl_socket_setsockopt(sock, NETLINK_CAP_ACK, &one, sizeof(one));
  return Session(sock, mnl_socket_get_portid(sock));
}

Expected<void> Session::request(std::vector<char> msg, std::string_view what,
                                int (*cb)(const nlmsghdr*, void*), void* data) {
  auto* req = reinterpret_cast<nlmsghdr*>(msg.data());
  const uint32_t seq = req->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(sock_, msg.data(), req->nlmsg_len) < 0) {
    return fail(cni::sys_error(errno, what));
  }
  std::vector<char> buf(kBufSize);
  bool interrupted = false;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(sock_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(cni::sys_error(errno, what));
    }
    int left = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
      if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid_) continue;  // an older request's
      // A dump that raced with a change is inconsistent (NLM_F_DUMP_INTR): say so at its end.
      if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (nlh->nlmsg_type == NLMSG_DONE) {
        if (interrupted) return fail(cni::sys_error(EINTR, what));
        return {};
      }
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error != 0) return fail(cni::sys_error(-err->error, what));
        return {};  // the ACK of a non-dump request
      }
      if (nlh->nlmsg_type < NLMSG_MIN_TYPE) continue;  // NOOP, OVERRUN
      if (cb != nullptr && cb(nlh, data) < 0) return fail(cni::sys_error(EBADMSG, what));
    }
  }
}

Expected<uint32_t> Session::genid() {
  auto msg = message(Table::kInet, NFT_MSG_GETGEN, NLM_F_ACK, [](nlmsghdr*) {});
  struct Ctx {
    std::optional<uint32_t> id;
  } ctx;
  auto cb = [](const nlmsghdr* nlh, void* data) -> int {
    GenPtr gen(checked(nftnl_gen_alloc()));
    if (nftnl_gen_nlmsg_parse(nlh, gen.get()) < 0) return -1;
    static_cast<Ctx*>(data)->id = nftnl_gen_get_u32(gen.get(), NFTNL_GEN_ID);
    return 0;
  };
  if (auto ok = request(std::move(msg), "read nftables generation", cb, &ctx); !ok) {
    return fail(std::move(ok.error()));
  }
  if (!ctx.id) return fail(cni::sys_error(EBADMSG, "read nftables generation"));
  return *ctx.id;
}

Expected<uint64_t> Session::netns_cookie() const {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (::getsockopt(mnl_socket_get_fd(sock_), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) {
    return fail(cni::sys_error(errno, "read the netns cookie"));
  }
  return cookie;
}

Expected<bool> Session::has_table(Table table) {
  TablePtr t(checked(nftnl_table_alloc()));
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kTable.c_str());
  auto msg = message(table, NFT_MSG_GETTABLE, NLM_F_ACK,
                     [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, t.get()); });
  auto ok = request(std::move(msg), "get table " + table_text(table), nullptr, nullptr);
  if (ok) return true;
  if (ok.error().sys_errno == ENOENT) return false;
  return fail(std::move(ok.error()));
}

Expected<bool> Session::has_chain(ChainRef chain) {
  ChainPtr c(checked(nftnl_chain_alloc()));
  const std::string name(chain.name);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, kTable.c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, name.c_str());
  auto msg = message(chain.table, NFT_MSG_GETCHAIN, NLM_F_ACK,
                     [&](nlmsghdr* nlh) { nftnl_chain_nlmsg_build_payload(nlh, c.get()); });
  auto ok = request(std::move(msg), "get chain " + name, nullptr, nullptr);
  if (ok) return true;
  if (ok.error().sys_errno == ENOENT) return false;
  return fail(std::move(ok.error()));
}

Expected<std::vector<Installed>> Session::list_rules(ChainRef chain) {
  const std::string name(chain.name);
  const std::string what = name.empty() ? "list rules of table " + table_text(chain.table)
                                        : "list rules of chain " + name;
  struct Ctx {
    Table table;
    std::vector<Installed> rules;
  } ctx{chain.table, {}};
  auto cb = [](const nlmsghdr* nlh, void* data) -> int {
    RulePtr r(checked(nftnl_rule_alloc()));
    // A rule with an expression this libnftnl does not know is not one of ours: skip it.
    if (nftnl_rule_nlmsg_parse(nlh, r.get()) < 0) return 0;
    auto* c = static_cast<Ctx*>(data);
    c->rules.push_back(Installed{.table = c->table,
                                 .chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN),
                                 .handle = nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE),
                                 .tag = tag_of(r.get()),
                                 .signature = signature_of(r.get())});
    return 0;
  };
  constexpr int kAttempts = 3;  // a dump that raced with a change is read again
  Expected<void> ok;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ctx.rules.clear();
    // The kernel filters a rule dump by the table and chain set in the request.
    RulePtr filter(checked(nftnl_rule_alloc()));
    nftnl_rule_set_str(filter.get(), NFTNL_RULE_TABLE, kTable.c_str());
    if (!name.empty()) nftnl_rule_set_str(filter.get(), NFTNL_RULE_CHAIN, name.c_str());
    // The kernel also filters it by the message's family.
    auto msg = message(chain.table, NFT_MSG_GETRULE, NLM_F_DUMP,
                       [&](nlmsghdr* nlh) { nftnl_rule_nlmsg_build_payload(nlh, filter.get()); });
    ok = request(std::move(msg), what, cb, &ctx);
    if (ok) return std::move(ctx.rules);
    if (ok.error().sys_errno == ENOENT) return std::vector<Installed>{};
    if (ok.error().sys_errno != EINTR) break;
  }
  return fail(std::move(ok.error()));
}

Expected<void> Session::commit(const Batch& batch, uint32_t genid) {
  std::vector<char> out;
  std::vector<std::pair<uint32_t, const Batch::Msg*>> sent;  // seq → message, for errors
  auto append = [&out](const nlmsghdr* nlh) {
    const auto* p = reinterpret_cast<const char*>(nlh);
    out.insert(out.end(), p, p + NLMSG_ALIGN(nlh->nlmsg_len));
  };
  const uint32_t begin_seq = ++seq_;
  {
    std::array<char, 64> buf{};
    nlmsghdr* nlh = nftnl_batch_begin(buf.data(), begin_seq);
    // The kernel refuses the whole batch with ERESTART if the ruleset is no longer this
    // generation: what we read to build the batch is then stale.
    mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
    append(nlh);
  }
  for (const auto& m : batch.msgs_) {
    std::vector<char> copy = m.bytes;
    auto* nlh = reinterpret_cast<nlmsghdr*>(copy.data());
    nlh->nlmsg_seq = ++seq_;
    sent.emplace_back(nlh->nlmsg_seq, &m);
    append(nlh);
  }
  {
    std::array<char, 64> buf{};
    append(nftnl_batch_end(buf.data(), ++seq_));
  }

  const int fd = mnl_socket_get_fd(sock_);
  int sndbuf = 0;
  socklen_t optlen = sizeof(sndbuf);
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &optlen) == 0 &&
      static_cast<size_t>(sndbuf) < out.size() + 4096) {
    const int want = static_cast<int>(out.size() + 4096);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want));  // best effort (root)
  }
  if (mnl_socket_sendto(sock_, out.data(), out.size()) < 0) {
    return fail(cni::sys_error(errno, "send nftables batch"));
  }

  // nfnetlink processes the whole batch inside sendmsg(), so every reply is queued by now (nft
  // reads them the same way). The first refused message is the cause; later ones may only fail
  // because of it.
  std::optional<std::pair<uint32_t, int>> first_error;
  std::vector<char> buf(kBufSize);
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return fail(cni::sys_error(errno, "read nftables batch replies"));
    }
    int left = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
      if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != portid_) continue;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error == 0) continue;
      if (!first_error || nlh->nlmsg_seq < first_error->first) {
        first_error = std::pair(nlh->nlmsg_seq, -err->error);
      }
    }
  }
  if (!first_error) return {};
  const auto [seq, err] = *first_error;
  if (seq == begin_seq) {
    return fail(cni::sys_error(
        err, err == ERESTART ? "nftables ruleset changed meanwhile" : "commit nftables batch"));
  }
  for (const auto& [s, m] : sent) {
    if (s != seq) continue;
    cni::Error e = cni::sys_error(err, m->what);
    e.details = m->detail;
    return fail(std::move(e));
  }
  return fail(cni::sys_error(err, "nftables batch"));
}

}  // namespace weir::firewall::nft
