// weir-ipam, the plugin process: a front end that starts in a fraction of the allocator's time,
// because it links no SQLite, libnl or iostreams (their start-up is much of a short call).
#pragma once

namespace weir::ipam {

// ADD and DEL go to the weir-agent that serves the config's data dir, which runs them on the
// store it keeps open. Everything else, and every call the agent does not take, runs in
// weir-ipam-local (next to us), exec'd in our place with the same environment and stdin. The
// caller cannot tell the paths apart: same output, same exit code. Returns the exit code.
int front_main();

}  // namespace weir::ipam
