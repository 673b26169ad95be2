// Typed reads of optional config fields, with code-7 errors that name the field the way the
// user wrote it ("ipam.ranges[0][1].subnet must be a string"). Used by every parser of a
// plugin config, so each message reads the same.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"

namespace weir::cni::fields {

// `where` is the path of `obj` in the config ("" at the top, "ipam" inside it, …).
std::string name(std::string_view where, std::string_view key);

Expected<std::optional<std::string>> get_string(const nlohmann::json& obj, std::string_view where,
                                                std::string_view key);
Expected<std::optional<bool>> get_bool(const nlohmann::json& obj, std::string_view where,
                                       std::string_view key);
Expected<std::optional<int64_t>> get_int(const nlohmann::json& obj, std::string_view where,
                                         std::string_view key, int64_t min, int64_t max);
Expected<std::optional<net::IpAddr>> get_ip(const nlohmann::json& obj, std::string_view where,
                                            std::string_view key);
Expected<std::optional<net::Cidr>> get_cidr(const nlohmann::json& obj, std::string_view where,
                                            std::string_view key);
Expected<std::optional<net::Mac>> get_mac(const nlohmann::json& obj, std::string_view where,
                                          std::string_view key);

}  // namespace weir::cni::fields
