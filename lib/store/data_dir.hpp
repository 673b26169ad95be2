// What weir assumes of its data folder, checked before anything in it is opened: nobody but
// root (or the user weir runs as) can change the folder, the folders that lead to it, or the
// files in it. Whoever else can write there could make root truncate files through symlinks
// (agent.lock, logs, weir.db), answer plugin calls from an impostor agent.sock, or plant
// records that make DEL delete host links. No SQLite here: the agent's client links it.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "lib/cni/error.hpp"
#include "lib/cni/fd.hpp"

namespace weir::store {

// Checks the data folder ("" = the default) and every folder on the way to it, component by
// component without following a symlink unchecked (one is followed only when it lies in a
// checked folder and is owned by root or us; its target is walked the same way):
// - each is owned by root or by our effective uid;
// - the data folder itself is writable by nobody else (no group or other write bit);
// - a folder on the way may be writable by others only with the sticky bit (/tmp): others
//   can then neither rename nor remove what root made there.
// create: missing folders are made (0700), and a read-only data folder is refused (weir must
// write its store). Code 102 naming the folder and what to fix.
Expected<void> check_data_folder(std::string_view data_dir, bool create);

// Opens a file of the data folder without following a symlink (O_NOFOLLOW is added to flags;
// O_CLOEXEC too), and refuses anything but a regular file owned by root or us. Code 102 (with
// the errno) naming the file. mode is for O_CREAT.
Expected<UniqueFd> open_data_file(const std::string& path, int flags, mode_t mode = 0600);

// Whether uid may serve or call us over the agent's control socket: root or ourselves.
bool trusted_uid(uid_t uid);

// The mark weir-bridge puts on its host veths' alias ("weir-port:<16 hex digits>:"): a hash of
// the data folder's device and inode, so every spelling of the folder gives the same. DEL and
// GC delete only links that carry it.
std::string link_mark(std::string_view data_dir);

}  // namespace weir::store
