/* The attached threads, kept where a signal handler can reach them without locks or allocation:
 * a fixed table of sig_atomic_t slots. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/target.h"
#include "registry.h"

#define REGISTRY_SLOTS 32768

struct slot {
	volatile sig_atomic_t tid;     /* 0: free */
	volatile sig_atomic_t stopped; /* in a ptrace-stop now */
	volatile sig_atomic_t signal;  /* to pass on at detach */
};

static struct slot slots[REGISTRY_SLOTS];
static volatile sig_atomic_t forward_pid;
static volatile sig_atomic_t watching; /* some thread may hold our watchpoints */

#define DR_OFFSET(n) (offsetof(struct user, u_debugreg) + (n) * sizeof(long))

/* Breakpoints: a slot is in use while `used` is set; written before `used` goes up. */
#define BREAKPOINT_SLOTS 4096
struct breakpoint_slot {
	volatile uint64_t address;
	volatile uint8_t original;
	volatile sig_atomic_t used;
};
static struct breakpoint_slot breakpoints[BREAKPOINT_SLOTS];

static struct slot *find(pid_t tid)
{
	for (size_t i = 0; i < REGISTRY_SLOTS; i++) {
		if (slots[i].tid == tid)
			return &slots[i];
	}
	return NULL;
}

void ai_registry_add(pid_t tid)
{
	if (find(tid))
		return;
	struct slot *s = find(0);
	if (!s)
		return; /* more threads than slots: those are detached by the normal path only */
	s->stopped = 0;
	s->signal = 0;
	s->tid = tid;
}

void ai_registry_remove(pid_t tid)
{
	struct slot *s = find(tid);
	if (s)
		s->tid = 0;
}

void ai_registry_set_stopped(pid_t tid, bool stopped, int pending_signal)
{
	struct slot *s = find(tid);
	if (s) {
		s->signal = pending_signal;
		s->stopped = stopped;
	}
}

void ai_registry_add_breakpoint(uint64_t address, uint8_t original)
{
	for (size_t i = 0; i < BREAKPOINT_SLOTS; i++) {
		if (!breakpoints[i].used) {
			breakpoints[i].address = address;
			breakpoints[i].original = original;
			breakpoints[i].used = 1;
			return;
		}
	}
	/* More than the table holds: those are removed by the normal paths only. */
}

void ai_registry_remove_breakpoint(uint64_t address)
{
	for (size_t i = 0; i < BREAKPOINT_SLOTS; i++) {
		if (breakpoints[i].used && breakpoints[i].address == address)
			breakpoints[i].used = 0;
	}
}

static bool is_breakpoint(uint64_t address)
{
	for (size_t i = 0; i < BREAKPOINT_SLOTS; i++) {
		if (breakpoints[i].used && breakpoints[i].address == address)
			return true;
	}
	return false;
}

/* Writes every original byte back through the stopped thread tid. Async-signal-safe. */
static void restore_breakpoints(pid_t tid)
{
	for (size_t i = 0; i < BREAKPOINT_SLOTS; i++) {
		if (!breakpoints[i].used)
			continue;
		errno = 0;
		long word = ptrace(PTRACE_PEEKTEXT, tid, (void *)breakpoints[i].address, 0);
		if (errno == 0) {
			word = (long)(((unsigned long)word & ~0xffUL) | breakpoints[i].original);
			ptrace(PTRACE_POKETEXT, tid, (void *)breakpoints[i].address, (void *)word);
		}
		breakpoints[i].used = 0;
	}
}

/* A thread stopped by one of our int3s (SIGTRAP, pc one past it): its pc goes back to the
 * breakpoint, where the original instruction now is, and the SIGTRAP is not delivered. */
static bool undo_trap(pid_t tid)
{
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, tid, 0, &regs) < 0 || !is_breakpoint(regs.rip - 1))
		return false;
	regs.rip--;
	return ptrace(PTRACE_SETREGS, tid, 0, &regs) == 0;
}

void ai_registry_set_watching(bool on)
{
	watching = on;
}

/* A thread stopped by one of our watchpoints or single-steps (SIGTRAP, DR6 naming a watchpoint
 * or BS): its DR6 is cleared and the SIGTRAP is not to be delivered. Async-signal-safe. */
#define DR6_OURS (0xfUL | (1UL << 14)) /* B0-B3, BS */
static bool debug_trap(pid_t tid)
{
	errno = 0;
	long dr6 = ptrace(PTRACE_PEEKUSER, tid, (void *)DR_OFFSET(6), 0);
	if (errno || !((unsigned long)dr6 & DR6_OURS))
		return false;
	ptrace(PTRACE_POKEUSER, tid, (void *)DR_OFFSET(6), (void *)0L);
	return true;
}

bool ai_registry_trap_queued(pid_t tid)
{
	siginfo_t infos[16];
	struct __ptrace_peeksiginfo_args args = { .off = 0, .flags = 0, .nr = 16 }; /* the thread's own queue */
	long n = ptrace(PTRACE_PEEKSIGINFO, tid, &args, infos);
	bool queued = false;
	for (long i = 0; i < n; i++)
		queued |= infos[i].si_signo == SIGTRAP;
	uint64_t blocked;
	if (!queued || ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(blocked), &blocked) < 0)
		return false;
	return !(blocked & (1ULL << (SIGTRAP - 1)));
}

void ai_registry_set_forward_pid(pid_t pid)
{
	forward_pid = pid;
}

/* Waits up to about a second for tid to enter a ptrace-stop; returns its stop signal or -1. */
static int wait_stop_briefly(pid_t tid)
{
	const struct timespec tick = { 0, 1000000 };
	for (int i = 0; i < 1000; i++) {
		int status;
		pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
		if (r == tid && WIFSTOPPED(status))
			return (status >> 16) == 0 ? WSTOPSIG(status) : 0;
		if (r < 0 && errno != EINTR)
			return -1; /* gone */
		if (r == tid)
			return -1; /* exited */
		nanosleep(&tick, NULL);
	}
	return -1;
}

/* Lets a stopped thread take the SIGTRAPs queued for it (ai_registry_trap_queued), dropping
 * ours; another signal it takes is kept in *signal (or queued again). Async-signal-safe. */
static void drain_traps(pid_t tid, volatile sig_atomic_t *signal)
{
	for (int i = 0; i < 8 && ai_registry_trap_queued(tid); i++) {
		if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
			return;
		int got = wait_stop_briefly(tid);
		if (got <= 0)
			continue; /* an event stop (or gone): look again */
		if (got == SIGTRAP && (undo_trap(tid) || debug_trap(tid)))
			continue;
		if (!*signal)
			*signal = got;
		else
			syscall(SYS_tkill, (int)tid, got); /* taken once it runs */
		if (got == SIGTRAP)
			return; /* the program's own: delivered at the detach */
	}
}

void ai_registry_detach_all(void)
{
	int saved_errno = errno;
	/* Every thread is stopped first, so that no breakpoint is hit while they are removed. */
	pid_t any_stopped = 0;
	for (size_t i = 0; i < REGISTRY_SLOTS; i++) {
		pid_t tid = slots[i].tid;
		if (tid == 0)
			continue;
		if (!slots[i].stopped) {
			/* PTRACE_DETACH needs a stopped tracee. No stop reported may still be one: a
			 * thread we were resuming or had just seen stop (the registry is updated on
			 * the other side of the ptrace call), so it is cleared and detached anyway. */
			if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 && errno == ESRCH)
				continue;
			int got = wait_stop_briefly(tid);
			if (got > 0)
				slots[i].signal = got;
			slots[i].stopped = 1;
		}
		if (slots[i].signal == SIGTRAP && (undo_trap(tid) || debug_trap(tid)))
			slots[i].signal = 0;
		drain_traps(tid, &slots[i].signal);
		if (watching) /* DR7 off: nothing of ours traps once we are gone */
			ptrace(PTRACE_POKEUSER, tid, (void *)DR_OFFSET(7), (void *)0L);
		any_stopped = tid;
	}
	if (any_stopped)
		restore_breakpoints(any_stopped);
	for (size_t i = 0; i < REGISTRY_SLOTS; i++) {
		pid_t tid = slots[i].tid;
		if (tid == 0)
			continue;
		ptrace(PTRACE_DETACH, tid, 0, (void *)(long)slots[i].signal);
		slots[i].tid = 0;
	}
	errno = saved_errno;
}

static struct sigaction previous[NSIG];

static void on_fatal_signal(int sig, siginfo_t *info, void *context)
{
	ai_registry_detach_all();
	/* Let the signal take its course under its previous disposition (e.g. ASan's report, or the
	 * default action: die with this signal). */
	sigaction(sig, &previous[sig], NULL);
	if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || info->si_code == SI_USER ||
	    info->si_code == SI_TKILL)
		raise(sig);
	/* A fault: returning re-runs the faulting instruction under the previous disposition. */
}

/* `run`: a signal sent to us by another process is meant for the program we run. Signals from the
 * terminal (Ctrl-C) reach the target directly, as it is in our process group. */
static void on_forwarded_signal(int sig, siginfo_t *info, void *context)
{
	if (forward_pid > 0 && info->si_code <= 0 && info->si_pid != 0)
		kill(forward_pid, sig);
}

void ai_target_install_signal_handlers(void)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGINT, SIGTERM, SIGHUP };
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_fatal_signal;
		sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
		sigemptyset(&sa.sa_mask);
		sigaction(fatal[i], &sa, &previous[fatal[i]]);
		/* Ignored when we started (nohup, a background job of a script): it stays ignored.
		 * Caught, it would detach and then, re-raised under SIG_IGN, leave us running on. */
		if (previous[fatal[i]].sa_handler == SIG_IGN)
			sigaction(fatal[i], &previous[fatal[i]], NULL);
	}
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
static sigset_t mask_before_launch;
static bool forwarded_blocked;

void ai_registry_block_forwarded(void)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, &mask_before_launch);
	forwarded_blocked = true;
}

void ai_registry_restore_mask(void)
{
	if (forwarded_blocked)
		sigprocmask(SIG_SETMASK, &mask_before_launch, NULL);
	forwarded_blocked = false;
}

void ai_target_forward_signals(pid_t pid)
{
	ai_registry_set_forward_pid(pid);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_forwarded_signal;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(forwarded[i], &sa, NULL);
	}
	/* A signal sent to us since the launch was held back: it is delivered (and forwarded) now. */
	ai_registry_restore_mask();
}
