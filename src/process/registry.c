/* The attached threads, kept where a signal handler can reach them without locks or allocation:
 * a fixed table of sig_atomic_t slots. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
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

void ai_registry_detach_all(void)
{
	int saved_errno = errno;
	for (size_t i = 0; i < REGISTRY_SLOTS; i++) {
		pid_t tid = slots[i].tid;
		if (tid == 0)
			continue;
		int sig = slots[i].signal;
		if (!slots[i].stopped) {
			/* PTRACE_DETACH needs a stopped tracee. */
			if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) == 0) {
				int got = wait_stop_briefly(tid);
				if (got > 0)
					sig = got;
			}
		}
		ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig);
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
