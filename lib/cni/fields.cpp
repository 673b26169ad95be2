#include "lib/cni/fields.hpp"

namespace weir::cni::fields {

using nlohmann::json;

namespace {

// The field's value, or nullptr when it is absent or null (both mean "unset").
const json* find(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Error wrong(std::string_view where, std::string_view key, std::string_view what) {
  return invalid_config(cni::quoted(name(where, key)) + " must be " + std::string(what));
}

template <class T, class Parse>
Expected<std::optional<T>> parsed(const json& obj, std::string_view where, std::string_view key,
                                  std::string_view what, Parse parse) {
  auto s = get_string(obj, where, key);
  if (!s) return fail(s.error());
  if (!*s) return std::optional<T>{};
  auto v = parse(**s);
  if (!v) {
    return fail(invalid_config(cni::quoted(name(where, key)) + " is not " + std::string(what) + ": " +
                               cni::quoted(**s)));
  }
  return std::optional<T>(*v);
}

}  // namespace

std::string name(std::string_view where, std::string_view key) {
  return where.empty() ? std::string(key) : std::string(where) + "." + std::string(key);
}

Expected<std::optional<std::string>> get_string(const json& obj, std::string_view where,
                                                std::string_view key) {
  const json* v = find(obj, key);
  if (v == nullptr) return std::optional<std::string>{};
  if (!v->is_string()) return fail(wrong(where, key, "a string"));
  return std::optional<std::string>(v->get<std::string>());
}

Expected<std::optional<bool>> get_bool(const json& obj, std::string_view where,
                                       std::string_view key) {
  const json* v = find(obj, key);
  if (v == nullptr) return std::optional<bool>{};
  if (!v->is_boolean()) return fail(wrong(where, key, "true or false"));
  return std::optional<bool>(v->get<bool>());
}

Expected<std::optional<int64_t>> get_int(const json& obj, std::string_view where,
                                         std::string_view key, int64_t min, int64_t max) {
  const json* v = find(obj, key);
  if (v == nullptr) return std::optional<int64_t>{};
  if (!v->is_number_integer()) return fail(wrong(where, key, "a whole number"));
  int64_t n = v->get<int64_t>();
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) n = INT64_MAX;
  if (n < min || n > max) {
    return fail(wrong(where, key,
                      "between " + std::to_string(min) + " and " + std::to_string(max) +
                          ", not " + std::to_string(n)));
  }
  return std::optional<int64_t>(n);
}

Expected<std::optional<net::IpAddr>> get_ip(const json& obj, std::string_view where,
                                            std::string_view key) {
  return parsed<net::IpAddr>(obj, where, key, "an IP address",
                             [](const std::string& s) { return net::IpAddr::parse(s); });
}

Expected<std::optional<net::Cidr>> get_cidr(const json& obj, std::string_view where,
                                            std::string_view key) {
  return parsed<net::Cidr>(obj, where, key, "a CIDR such as 10.1.0.0/16",
                           [](const std::string& s) { return net::Cidr::parse(s); });
}

Expected<std::optional<net::Mac>> get_mac(const json& obj, std::string_view where,
                                          std::string_view key) {
  return parsed<net::Mac>(obj, where, key, "a MAC address such as 02:42:ac:11:00:02",
                          [](const std::string& s) { return net::Mac::parse(s); });
}

}  // namespace weir::cni::fields
