// JSON text for the list-valued columns of the SQLite backend (internal to lib/store).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"

namespace weir::store::sqlite {

std::string cidrs_to_json(const std::vector<net::Cidr>& cidrs);
Expected<std::vector<net::Cidr>> cidrs_from_json(std::string_view text);
std::string strings_to_json(const std::vector<std::string>& strings);
Expected<std::vector<std::string>> strings_from_json(std::string_view text);

}  // namespace weir::store::sqlite
