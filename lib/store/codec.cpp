#include "lib/store/codec.hpp"

#include <nlohmann/json.hpp>

namespace weir::store::sqlite {

namespace {

cni::Error corrupt(std::string_view what, std::string_view text) {
  return cni::make_error(cni::Code::kStore,
                         "store: corrupt " + std::string(what) + " \"" + std::string(text) + "\"");
}

Expected<nlohmann::json> parse_array(std::string_view what, std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return fail(corrupt(what, text));
  return j;
}

}  // namespace

std::string cidrs_to_json(const std::vector<net::Cidr>& cidrs) {
  auto j = nlohmann::json::array();
  for (const auto& c : cidrs) j.push_back(c.str());
  return j.dump();
}

Expected<std::vector<net::Cidr>> cidrs_from_json(std::string_view text) {
  auto j = parse_array("CIDR list", text);
  if (!j) return fail(j.error());
  std::vector<net::Cidr> out;
  for (const auto& e : *j) {
    auto c = e.is_string() ? net::Cidr::parse(e.get<std::string>()) : std::nullopt;
    if (!c) return fail(corrupt("CIDR list", text));
    out.push_back(*c);
  }
  return out;
}

std::string strings_to_json(const std::vector<std::string>& strings) {
  // replace, not throw, on invalid UTF-8: no exception leaves lib/.
  return nlohmann::json(strings).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Expected<std::vector<std::string>> strings_from_json(std::string_view text) {
  auto j = parse_array("string list", text);
  if (!j) return fail(j.error());
  std::vector<std::string> out;
  for (const auto& e : *j) {
    if (!e.is_string()) return fail(corrupt("string list", text));
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace weir::store::sqlite
