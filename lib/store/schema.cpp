#include "lib/store/schema.hpp"

#include <iterator>
#include <string>

namespace weir::store::sqlite {

namespace {

#define WEIR_APPLICATION_ID_TEXT "2003134834"  // kApplicationId in decimal
static_assert(kApplicationId == 2003134834);

// Addresses are keys of 1 + 4 or 1 + 16 bytes: the family (4 or 6), then the address in network
// order. SQLite compares BLOBs with memcmp, so index order is address order within a family and
// the two families never interleave. Tables are WITHOUT ROWID: each is its primary-key index.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE networks (
  name     TEXT PRIMARY KEY,
  subnets  TEXT NOT NULL,            -- JSON array of CIDR strings
  created  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE leases (
  network      TEXT NOT NULL,
  addr         BLOB NOT NULL,
  range_set    INTEGER NOT NULL,
  container_id TEXT NOT NULL,
  ifname       TEXT NOT NULL,
  netns        TEXT NOT NULL,
  created      INTEGER NOT NULL,
  PRIMARY KEY (network, addr)
) WITHOUT ROWID;
CREATE INDEX leases_by_attachment ON leases (network, container_id, ifname);

-- Maximal runs of consecutive leased addresses, kept by the same transactions that change
-- leases: finding a free address is one index lookup whatever the number of leases.
CREATE TABLE lease_runs (
  network  TEXT NOT NULL,
  first    BLOB NOT NULL,
  last     BLOB NOT NULL,
  PRIMARY KEY (network, first)
) WITHOUT ROWID;

CREATE TABLE cursors (
  network    TEXT NOT NULL,
  range_set  INTEGER NOT NULL,
  addr       BLOB NOT NULL,
  PRIMARY KEY (network, range_set)
) WITHOUT ROWID;

CREATE TABLE endpoints (
  network      TEXT NOT NULL,
  container_id TEXT NOT NULL,
  ifname       TEXT NOT NULL,
  netns        TEXT NOT NULL,
  mac          TEXT NOT NULL,
  host_ifname  TEXT NOT NULL,
  ips          TEXT NOT NULL,        -- JSON array of CIDR strings
  names        TEXT NOT NULL,        -- JSON array
  aliases      TEXT NOT NULL,        -- JSON array
  extra        TEXT NOT NULL,
  created      INTEGER NOT NULL,
  PRIMARY KEY (network, container_id, ifname)
) WITHOUT ROWID;

-- Names and aliases of endpoints, for DNS lookups by name.
CREATE TABLE endpoint_names (
  network      TEXT NOT NULL,
  name         TEXT NOT NULL COLLATE NOCASE,  -- DNS names match case-insensitively
  container_id TEXT NOT NULL,
  ifname       TEXT NOT NULL,
  PRIMARY KEY (network, name, container_id, ifname)
) WITHOUT ROWID;
CREATE INDEX endpoint_names_by_endpoint ON endpoint_names (network, container_id, ifname);

CREATE TABLE meta (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// Migration i takes the schema from version i to i + 1.
constexpr const char* kMigrations[] = {kSchemaV1};
static_assert(std::size(kMigrations) == kSchemaVersion);

Expected<void> apply(Db& db, int64_t from) {
  for (int64_t v = from; v < kSchemaVersion; ++v) {
    if (auto ok = db.exec(kMigrations[v]); !ok) {
      return fail(ok.error().context("migrate schema to version " + std::to_string(v + 1)));
    }
  }
  const std::string set = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
  return db.exec(set.c_str());
}

Expected<void> check_not_newer(int64_t v) {
  if (v <= kSchemaVersion) return {};
  return fail(cni::make_error(cni::Code::kStore, "store: schema version " + std::to_string(v) +
                                                     " is newer than this weir understands (" +
                                                     std::to_string(kSchemaVersion) + ")"));
}

}  // namespace

Expected<void> create_schema(Db& db) {
  if (auto ok = db.exec("BEGIN IMMEDIATE"); !ok) return ok;
  auto ok = apply(db, 0);
  if (ok) ok = db.exec("PRAGMA application_id = " WEIR_APPLICATION_ID_TEXT);
  if (ok) ok = db.exec("COMMIT");
  if (!ok) (void)db.exec("ROLLBACK");
  return ok;
}

Expected<void> migrate(Db& db) {
  auto version = db.scalar("PRAGMA user_version");
  if (!version) return fail(version.error());
  if (*version == kSchemaVersion) return {};
  if (auto ok = check_not_newer(*version); !ok) return ok;

  // Another process may be migrating too: take the write lock, then look again.
  if (auto ok = db.exec("BEGIN IMMEDIATE"); !ok) return ok;
  auto again = db.scalar("PRAGMA user_version");
  Expected<void> ok = again ? check_not_newer(*again) : fail(again.error());
  if (ok && *again < kSchemaVersion) ok = apply(db, *again);
  if (ok) ok = db.exec("COMMIT");
  if (!ok) (void)db.exec("ROLLBACK");
  return ok;
}

}  // namespace weir::store::sqlite
