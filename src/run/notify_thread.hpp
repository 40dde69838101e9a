// The sandbox's notified calls decided on a thread of their own, waiting in the kernel's RECV
// instead of in the supervisor's poll(2): a decided call then costs the supervisor two system
// calls (RECV, SEND) instead of three, and with the listener's SYNC_WAKE_UP the sandbox's
// thread hands its CPU straight to this one.
//
// The thread ends by itself: RECV returns once no process uses the filter (Linux 6.11), and
// where the sandbox has a pid namespace of its own, the processes that use it are all gone
// once its init has exited (the kernel reaps them before init ends; init has no filter).
// Elsewhere (an older kernel, --share-pid) the supervisor's poll loop decides the calls.
#pragma once

#include "kernel/fd.hpp"
#include "run/seccomp_monitor.hpp"

#include <caisson/sandbox.hpp>

#include <exception>
#include <thread>

namespace caisson::run {

// Whether the thread can be used here: a kernel whose RECV ends with the filter's users.
bool notify_thread_usable();

class NotifyThread {
public:
    // Decides `listener`'s notifications with `monitor` (both borrowed: they outlive this)
    // into a record of its own. `init_pidfd`: the sandbox's init, killed if the thread has
    // to be stopped before the sandbox ended (an error in the supervisor).
    NotifyThread(SeccompMonitor& monitor, int listener, int init_pidfd);
    ~NotifyThread();
    NotifyThread(const NotifyThread&) = delete;
    NotifyThread& operator=(const NotifyThread&) = delete;

    // Readable once a kill rule fired (or the thread failed): the supervisor kills the
    // sandbox, as it does for a kill it decides itself.
    int kill_fd() const { return kill_.get(); }
    // Once the sandbox's processes are gone: waits for the thread, adds what it recorded to
    // `out`, and throws what went wrong on it, if anything did.
    void finish(Outcome& out);

private:
    void loop();
    SeccompMonitor& monitor_;
    int listener_;
    int init_pidfd_;
    kernel::Fd kill_;
    Outcome record_;
    std::exception_ptr error_;
    std::thread thread_;
};

}  // namespace caisson::run
