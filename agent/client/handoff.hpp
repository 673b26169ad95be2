// A call on a network whose store is etcd runs in weir-cluster: the same programs, linked
// dynamically with libcurl (lib/store/backend.hpp says why). A static program hands it over
// before any verb runs, so nothing was made here that the other would not know of.
#pragma once

#include <string_view>

#include "lib/cni/plugin.hpp"

namespace weir::agent {

// cni::Verbs::before for `program` (its name in the multicall: "weir-ipam-local"): execs
// weir-cluster, next to this executable, with the same environment and the call's stdin when
// the network's store is etcd and this program has none; returns when the call stays here, or
// with the error (a bad "store" object: code 7; weir-cluster missing: code 102 naming it).
// A program whose records are not on etcd yet (`on_etcd` false) refuses an ADD on such a
// network with code 2 instead; its other verbs go on with SQLite, where what it made is.
Expected<void> run_where_the_store_is(const cni::Call& call, std::string_view program,
                                      bool on_etcd = true);

// The same for a program run by hand (weirctl): when this program has no etcd store, execs
// weir-cluster, next to this executable, as `weir-cluster <program> argv[1…]` with the same
// environment and descriptors. Returns when the call stays here (this program has the etcd
// store), or with the error (weir-cluster missing: code 102 naming it).
Expected<void> run_in_cluster(std::string_view program, int argc, char** argv);

}  // namespace weir::agent
