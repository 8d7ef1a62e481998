/* A live target under ptrace: attach with PTRACE_SEIZE, stop the world with PTRACE_INTERRUPT,
 * resume, detach; launching for `run`, and its event loop.
 *
 * See strace's doc/README-linux-ptrace for the stops told apart here: a signal-delivery-stop
 * (event 0) carries a signal meant for the target, which we must hand back; PTRACE_EVENT_STOP with
 * SIGTRAP is our own interrupt or a new thread's first stop; PTRACE_EVENT_STOP with a stopping
 * signal is a job-control stop, which is left in place with PTRACE_LISTEN. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/target.h"
#include "ai/util.h"
#include "breakpoint.h"
#include "registry.h"

#define SEIZE_OPTIONS (PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC)

static struct ai_thread *find_thread(struct ai_target *t, pid_t tid)
{
	for (size_t i = 0; i < t->thread_count; i++) {
		if (t->threads[i].tid == tid)
			return &t->threads[i];
	}
	return NULL;
}

static struct ai_thread *add_thread(struct ai_target *t, pid_t tid)
{
	struct ai_thread *thread = find_thread(t, tid);
	if (thread)
		return thread;
	AI_GROW(t->threads, t->thread_capacity, t->thread_count + 1);
	thread = &t->threads[t->thread_count++];
	memset(thread, 0, sizeof(*thread));
	thread->tid = tid;
	thread->state = '?';
	ai_registry_add(tid);
	return thread;
}

static void remove_thread(struct ai_target *t, pid_t tid)
{
	struct ai_thread *thread = find_thread(t, tid);
	if (!thread)
		return;
	ai_registry_remove(tid);
	size_t i = (size_t)(thread - t->threads);
	memmove(&t->threads[i], &t->threads[i + 1], (t->thread_count - i - 1) * sizeof(*thread));
	t->thread_count--;
}

static void mark_stopped(struct ai_thread *thread, bool stopped)
{
	thread->stopped = stopped;
	ai_registry_set_stopped(thread->tid, stopped, thread->pending_signal);
}

void ai_thread_read_proc(pid_t pid, struct ai_thread *thread)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)thread->tid);
	char *comm = ai_read_small_file(path, NULL);
	if (comm) {
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(thread->name, sizeof(thread->name), "%s", comm);
		free(comm);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)thread->tid);
	char *stat = ai_read_small_file(path, NULL);
	if (stat) {
		/* "tid (comm) S ...": comm may hold spaces and parentheses, so look after the last ')'. */
		char *close_paren = strrchr(stat, ')');
		if (close_paren && close_paren[1] == ' ' && close_paren[2])
			thread->state = close_paren[2];
		free(stat);
	}
}

/* The state letter and parent of process pid from /proc/PID/stat ("pid (comm) S ppid ..."; comm
 * may hold spaces and parentheses, so parse after the last ')'). False if it is gone. */
static bool read_proc_state(pid_t pid, char *state_ret, long *ppid_ret)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *stat = ai_read_small_file(path, NULL);
	if (!stat)
		return false;
	char *close_paren = strrchr(stat, ')');
	bool ok = close_paren && sscanf(close_paren + 1, " %c %ld", state_ret, ppid_ret) == 2;
	free(stat);
	return ok;
}

static char *read_comm(long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	char *comm = ai_read_small_file(path, NULL);
	if (comm)
		comm[strcspn(comm, "\n")] = '\0';
	return comm;
}

/* A zombie has exited and released its memory; only its exit status waits for its parent. ptrace
 * refuses it with EPERM, which would read as a permission problem: say what it is instead. The
 * main thread of a process that still has other threads is a zombie too, but not the process. */
static struct ai_error *check_not_zombie(pid_t pid)
{
	char state;
	long ppid;
	if (!read_proc_state(pid, &state, &ppid) || (state != 'Z' && state != 'X'))
		return NULL;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	size_t live = 0;
	DIR *dir = opendir(path);
	if (dir) {
		struct dirent *entry;
		while ((entry = readdir(dir))) {
			pid_t tid = (pid_t)atoi(entry->d_name);
			char tstate;
			long tppid;
			if (tid > 0 && tid != pid && read_proc_state(tid, &tstate, &tppid) && tstate != 'Z' && tstate != 'X')
				live++;
		}
		closedir(dir);
	}
	if (live > 0)
		return ai_error_create(AI_ERROR_UNSUPPORTED,
				       "cannot attach to process %d: its main thread has exited (a zombie) while %zu other thread%s still run%s; attaching to such a process is not supported",
				       (int)pid, live, live == 1 ? "" : "s", live == 1 ? "s" : "");
	char *parent = read_comm(ppid);
	struct ai_error *err = ai_error_create(AI_ERROR_TARGET_EXITED,
		"process %d is a zombie: it has exited and its parent (process %ld, %s) has not reaped it; there is nothing left to inspect",
		(int)pid, ppid, parent ? parent : "?");
	free(parent);
	return err;
}

/* PF_KTHREAD in the flags, the 9th field of /proc/PID/stat (the 6th after the state). */
static bool is_kernel_thread(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *stat = ai_read_small_file(path, NULL);
	if (!stat)
		return false;
	char *close_paren = strrchr(stat, ')');
	unsigned long flags = 0;
	bool ok = close_paren && sscanf(close_paren + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1;
	free(stat);
	return ok && (flags & 0x00200000UL);
}

/* Why PTRACE_SEIZE said EPERM, in words a user can act on. */
static struct ai_error *explain_seize_failure(pid_t pid, int errnum)
{
	if (errnum == ESRCH)
		return ai_error_create(AI_ERROR_NOT_FOUND, "no process with PID %d", (int)pid);
	if (errnum != EPERM)
		return ai_error_from_errno(errnum, "cannot attach to process %d", (int)pid);
	struct ai_error *zombie = check_not_zombie(pid); /* it may have exited since we looked */
	if (zombie)
		return zombie;

	if (is_kernel_thread(pid))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "cannot attach to process %d: it is a kernel thread, with no user-space memory to inspect",
				       (int)pid);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	char *status = ai_read_small_file(path, NULL);
	long tracer = 0;
	uid_t uid = (uid_t)-1;
	if (status) {
		const char *p = strstr(status, "TracerPid:");
		if (p)
			tracer = strtol(p + strlen("TracerPid:"), NULL, 10);
		p = strstr(status, "\nUid:");
		if (p)
			uid = (uid_t)strtoul(p + strlen("\nUid:"), NULL, 10);
		free(status);
	}
	if (tracer > 0) {
		char *comm = read_comm(tracer);
		struct ai_error *err = ai_error_create(AI_ERROR_PERMISSION,
			"cannot attach to process %d: it is already traced by process %ld (%s); only one debugger can attach at a time",
			(int)pid, tracer, comm ? comm : "?");
		free(comm);
		return err;
	}
	char *yama = ai_read_small_file("/proc/sys/kernel/yama/ptrace_scope", NULL);
	int scope = yama ? atoi(yama) : 0;
	free(yama);
	if (scope == 3)
		return ai_error_create(AI_ERROR_PERMISSION,
			"cannot attach to process %d: Yama ptrace_scope is 3, which forbids attaching to any process; use `async-inspect run` to launch the program instead",
			(int)pid);
	if (scope == 2 && geteuid() != 0)
		return ai_error_create(AI_ERROR_PERMISSION,
			"cannot attach to process %d: Yama ptrace_scope is 2 (only root may attach); run as root, or launch the program with `async-inspect run`",
			(int)pid);
	if (uid != (uid_t)-1 && uid != geteuid() && geteuid() != 0)
		return ai_error_create(AI_ERROR_PERMISSION,
			"cannot attach to process %d: it belongs to user %u and you are user %u; run as that user or as root",
			(int)pid, (unsigned)uid, (unsigned)geteuid());
	if (scope == 1 && geteuid() != 0)
		return ai_error_create(AI_ERROR_PERMISSION,
			"cannot attach to process %d: Yama ptrace_scope is 1 (only a parent may trace); run as root, use `sudo sysctl kernel.yama.ptrace_scope=0`, or launch it with `async-inspect run`",
			(int)pid);
	return ai_error_create(AI_ERROR_PERMISSION,
			       "cannot attach to process %d: not permitted (is it setuid, or are you in a container without CAP_SYS_PTRACE?)",
			       (int)pid);
}

/* Why seizing thread tid of pid said EPERM, when the thread is not a reason to fail: it is ours
 * already (its parent created it just after we seized the parent, so PTRACE_O_TRACECLONE gave it
 * to us before we saw the clone event), or it is ending (a thread with an exit state cannot be
 * seized) or gone. */
enum seize_refusal { REFUSAL_REAL, REFUSAL_OURS, REFUSAL_ENDING };

static enum seize_refusal why_thread_refused(pid_t pid, pid_t tid)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	char *status = ai_read_small_file(path, NULL);
	if (!status)
		return REFUSAL_ENDING;
	enum seize_refusal why = REFUSAL_REAL;
	const char *tracer = strstr(status, "TracerPid:");
	const char *state = strstr(status, "State:");
	if (tracer && strtol(tracer + strlen("TracerPid:"), NULL, 10) == (long)getpid())
		why = REFUSAL_OURS;
	else if (state) {
		char letter = state[6 + strspn(state + 6, " \t")];
		if (letter == 'Z' || letter == 'X')
			why = REFUSAL_ENDING;
	}
	free(status);
	return why;
}

/* Seizes every thread listed in /proc/PID/task that we do not have yet. Threads created after
 * their parent was seized are followed by PTRACE_O_TRACECLONE; this catches the rest. Returns
 * how many were new in *added_ret. */
static struct ai_error *seize_new_threads(struct ai_target *t, size_t *added_ret)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	DIR *dir = opendir(path);
	if (!dir) {
		if (errno == ENOENT)
			return ai_error_create(AI_ERROR_NOT_FOUND, "no process with PID %d", (int)t->pid);
		return ai_error_from_errno(errno, "cannot list threads of process %d", (int)t->pid);
	}
	size_t added = 0;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		pid_t tid = (pid_t)atoi(entry->d_name);
		if (tid <= 0 || find_thread(t, tid))
			continue;
		if (ptrace(PTRACE_SEIZE, tid, 0, (void *)(long)SEIZE_OPTIONS) < 0) {
			int errnum = errno;
			if (errnum == ESRCH && tid != t->pid)
				continue; /* the thread ended meanwhile */
			enum seize_refusal why = errnum == EPERM && tid != t->pid ? why_thread_refused(t->pid, tid)
										 : REFUSAL_REAL;
			if (why == REFUSAL_ENDING)
				continue;
			if (why == REFUSAL_OURS) {
				add_thread(t, tid); /* its first stop is waited for like any other */
				added++;
				continue;
			}
			closedir(dir);
			return explain_seize_failure(t->pid, errnum);
		}
		add_thread(t, tid);
		added++;
	}
	closedir(dir);
	*added_ret = added;
	return NULL;
}

/* Seizes every thread of t->pid. Threads may be created while we attach: repeats until a pass
 * finds none. */
static struct ai_error *seize_all(struct ai_target *t)
{
	for (int pass = 0;; pass++) {
		size_t added;
		struct ai_error *err = seize_new_threads(t, &added);
		if (err)
			return err;
		if (added == 0)
			return NULL;
		if (pass > 1000)
			return ai_error_create(AI_ERROR_OTHER, "process %d creates threads faster than we can attach",
					       (int)t->pid);
	}
}

static struct ai_target *target_new(pid_t pid)
{
	struct ai_target *t = xcalloc(1, sizeof(*t));
	t->kind = AI_TARGET_LIVE;
	t->pid = pid;
	ai_maps_init(&t->maps);
	t->memory = ai_memory_create();
	ai_memory_add_process(t->memory, pid);
	return t;
}

static void read_exe_path(struct ai_target *t)
{
	char link[64], buf[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)t->pid);
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	free(t->exe_path);
	if (n > 0) {
		buf[n] = '\0';
		t->exe_path = xstrdup(buf);
	} else {
		t->exe_path = xstrdup(link); /* still openable while the process lives */
	}
}

struct ai_error *ai_target_attach(pid_t pid, struct ai_target **ret)
{
	if (pid <= 0)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "invalid PID %d", (int)pid);
	if (pid == getpid())
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "cannot inspect async-inspect itself");
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	struct stat st;
	if (stat(path, &st) < 0)
		return ai_error_create(AI_ERROR_NOT_FOUND, "no process with PID %d", (int)pid);
	struct ai_error *zombie = check_not_zombie(pid);
	if (zombie)
		return zombie;

	struct ai_target *t = target_new(pid);
	read_exe_path(t);
	struct ai_error *err = seize_all(t);
	if (err) {
		ai_target_destroy(t);
		return err;
	}
	*ret = t;
	return NULL;
}

struct ai_error *ai_target_reattach(struct ai_target *t)
{
	if (t->kind != AI_TARGET_LIVE || t->thread_count > 0)
		return NULL;
	if (t->exited)
		return ai_error_create(AI_ERROR_TARGET_EXITED, "process %d has exited", (int)t->pid);
	struct ai_error *err = check_not_zombie(t->pid);
	if (!err)
		err = seize_all(t);
	if (err)
		ai_target_detach(t); /* the threads seized before the error */
	return err;
}

/* Handles one wait status of a thread while we stop the world. */
static void note_stop_status(struct ai_target *t, pid_t tid, int status)
{
	struct ai_thread *thread = find_thread(t, tid);
	if (!thread)
		thread = add_thread(t, tid);
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		if (tid == t->pid) {
			t->exited = true;
			t->exit_status = status;
		}
		remove_thread(t, tid);
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	int event = status >> 16;
	if (event == PTRACE_EVENT_CLONE) {
		unsigned long new_tid;
		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &new_tid) == 0)
			add_thread(t, (pid_t)new_tid); /* its first stop is waited for in the stop loop */
		thread = find_thread(t, tid);
	} else if (event == PTRACE_EVENT_STOP) {
		int sig = WSTOPSIG(status);
		thread->group_stopped = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
	} else if (event == 0) {
		/* A SIGTRAP of one of our breakpoints is not the target's: it hits it again later.
		 * One of our watchpoints: the write is done, and reported once the world runs. */
		bool ours = false;
		if (WSTOPSIG(status) == SIGTRAP) {
			ours = ai_breakpoint_claim_trap(t, thread);
			if (!ours && ai_watchpoint_claim_trap(t, thread)) {
				ours = true;
				t->watch_missed = t->watch_count > 0;
			}
		}
		if (!ours)
			thread->pending_signal = WSTOPSIG(status);
	}
	mark_stopped(thread, true);
}

void ai_breakpoint_thread_gone(struct ai_target *t, pid_t tid, int status)
{
	if (WIFEXITED(status) || WIFSIGNALED(status))
		note_stop_status(t, tid, status);
	else
		remove_thread(t, tid);
}

/* The reported breakpoint hit, if any, is stepped over now that every thread is stopped. */
static struct ai_error *step_over_hit(struct ai_target *t)
{
	if (!t->hit_tid)
		return NULL;
	struct ai_thread *thread = find_thread(t, t->hit_tid);
	if (!thread) {
		t->hit_tid = 0;
		return NULL;
	}
	return ai_breakpoint_step_over(t, thread);
}

/* How long a thread may take to stop: one in uninterruptible sleep (state D) stops only when it
 * leaves it. */
#define STOP_TIMEOUT_US (5 * 1000 * 1000)

/* Interrupts every running thread and waits until each is in a ptrace-stop or gone. Threads are
 * polled in turn rather than waited for one by one: a group leader that has exited is reported
 * only after every other thread, so waiting for it first would never end. */
static struct ai_error *stop_threads(struct ai_target *t)
{
	for (size_t i = 0; i < t->thread_count; i++) {
		struct ai_thread *thread = &t->threads[i];
		if (!thread->stopped && ptrace(PTRACE_INTERRUPT, thread->tid, 0, 0) < 0 && errno != ESRCH)
			return ai_error_from_errno(errno, "cannot stop thread %d", (int)thread->tid);
	}
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL); /* so that sigtimedwait below can wait for it */
	uint64_t deadline = ai_now_us() + STOP_TIMEOUT_US;
	for (;;) {
		bool waiting = false, progressed = false;
		/* The list changes as threads stop, appear or vanish: rescan after each event. */
		for (size_t i = 0; i < t->thread_count && !progressed; i++) {
			if (t->threads[i].stopped)
				continue;
			waiting = true;
			pid_t tid = t->threads[i].tid;
			int status;
			pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
			if (r == tid) {
				note_stop_status(t, tid, status);
				progressed = true;
			} else if (r < 0 && errno == ECHILD) {
				remove_thread(t, tid); /* gone, and reaped elsewhere */
				progressed = true;
			}
		}
		if (!waiting)
			return NULL;
		if (progressed)
			continue;
		/* A thread already stopped can still be killed (SIGKILL ends a ptrace-stop): its exit
		 * must be reaped too, or its group leader's is never reported and we would wait for
		 * the leader until the deadline. */
		for (size_t i = 0; i < t->thread_count && !progressed; i++) {
			int status;
			pid_t tid = t->threads[i].tid;
			if (t->threads[i].stopped && waitpid(tid, &status, __WALL | WNOHANG) == tid) {
				note_stop_status(t, tid, status);
				progressed = true;
			}
		}
		if (progressed)
			continue;
		uint64_t now = ai_now_us();
		if (now >= deadline) {
			for (size_t i = 0; i < t->thread_count; i++) {
				if (!t->threads[i].stopped)
					return ai_error_create(AI_ERROR_OTHER,
							       "thread %d of process %d did not stop within %d s (state %c: uninterruptible sleep?)",
							       (int)t->threads[i].tid, (int)t->pid, STOP_TIMEOUT_US / 1000000,
							       t->threads[i].state);
			}
		}
		struct timespec nap = { 0, 1000 * 1000 };
		sigtimedwait(&chld, NULL, &nap);
	}
}

struct ai_error *ai_target_stop(struct ai_target *t)
{
	if (t->kind == AI_TARGET_CORE || t->is_stopped)
		return NULL;
	if (t->exited)
		return ai_error_create(AI_ERROR_TARGET_EXITED, "process %d has exited", (int)t->pid);
	/* Names and scheduler states first, while it still runs: they are what the user wants to see
	 * (a thread we stopped would read as 't'), and reading them does not lengthen the pause. */
	for (size_t i = 0; i < t->thread_count; i++)
		ai_thread_read_proc(t->pid, &t->threads[i]);

	t->stopped_at_us = ai_now_us();
	struct ai_error *err = stop_threads(t);
	if (!err && !t->exited) {
		/* Threads that raced with us into existence without a clone event we saw. */
		size_t added;
		err = seize_new_threads(t, &added);
		if (!err && added > 0)
			err = stop_threads(t);
	}
	t->is_stopped = true;
	if (err)
		return err;
	if (t->exited || t->thread_count == 0)
		return ai_error_create(AI_ERROR_TARGET_EXITED, "process %d exited while being stopped",
				       (int)t->pid);
	for (size_t i = 0; i < t->thread_count; i++) {
		struct ai_thread *thread = &t->threads[i];
		if (thread->name[0] == '\0')
			ai_thread_read_proc(t->pid, thread);
		thread->regs_valid = ptrace(PTRACE_GETREGS, thread->tid, 0, &thread->regs) == 0;
	}
	err = ai_maps_read(t->pid, &t->maps);
	if (err)
		return err;
	ai_memory_set_caching(t->memory, true);
	return NULL;
}

static void resume_thread(struct ai_target *t, struct ai_thread *thread)
{
	ai_watchpoint_arm(t, thread);
	int request = thread->group_stopped ? PTRACE_LISTEN : PTRACE_CONT;
	int signal = thread->pending_signal;
	thread->pending_signal = 0;
	thread->regs_valid = false;
	/* Marked running first: our signal handlers stop (or find stopped) a thread the registry
	 * says runs, but cannot detach one that runs while it says stopped. */
	mark_stopped(thread, false);
	ptrace(request, thread->tid, 0, (void *)(long)signal);
}

struct ai_error *ai_target_resume(struct ai_target *t)
{
	if (t->kind == AI_TARGET_CORE || !t->is_stopped)
		return NULL;
	struct ai_error *err = step_over_hit(t);
	for (size_t i = 0; i < t->thread_count; i++) {
		if (t->threads[i].stopped)
			resume_thread(t, &t->threads[i]);
	}
	t->watch_tid = 0;
	t->is_stopped = false;
	t->last_pause_us = ai_now_us() - t->stopped_at_us;
	ai_memory_set_caching(t->memory, false);
	return err;
}

void ai_target_detach(struct ai_target *t)
{
	if (t->kind != AI_TARGET_LIVE)
		return;
	if (t->thread_count == 0)
		return;
	/* PTRACE_DETACH needs each thread stopped: a running target gets a second, short pause. */
	if (!t->is_stopped && !t->exited) {
		t->stopped_at_us = ai_now_us();
		t->is_stopped = true;
		struct ai_error *err = stop_threads(t);
		ai_error_destroy(err); /* best effort: detach what we can */
	}
	t->hit_tid = 0; /* its pc is on the breakpoint, where the original code is put back */
	if (t->breakpoints || t->watch_generation) {
		for (size_t i = 0; i < t->thread_count;) {
			if (!t->threads[i].stopped || ai_breakpoint_drain_traps(t, &t->threads[i]))
				i++;
		}
	}
	ai_target_remove_breakpoints(t);
	ai_target_clear_watchpoints(t);
	for (size_t i = 0; i < t->thread_count; i++) {
		struct ai_thread *thread = &t->threads[i];
		if (thread->stopped)
			ptrace(PTRACE_DETACH, thread->tid, 0, (void *)(long)thread->pending_signal);
		ai_registry_remove(thread->tid);
	}
	t->thread_count = 0;
	t->last_pause_us = t->is_stopped ? ai_now_us() - t->stopped_at_us : 0;
	t->is_stopped = false;
}

void ai_target_core_close(struct ai_target *t); /* core.c: frees t->core */

void ai_target_destroy(struct ai_target *t)
{
	if (!t)
		return;
	if (t->kind == AI_TARGET_LIVE)
		ai_target_detach(t);
	else
		ai_target_core_close(t);
	ai_target_remove_breakpoints(t); /* an exited target: only our records are left to free */
	ai_memory_destroy(t->memory);
	ai_maps_deinit(&t->maps);
	free(t->threads);
	free(t->exe_path);
	free(t->core_path);
	free(t->warning);
	free(t);
}

static bool handle_run_event(struct ai_target *t, pid_t tid, int status);

/* Launching. The child stops itself before exec so that we can seize it; a close-on-exec pipe
 * tells us whether the exec failed. */
static struct ai_error *launch(char *const argv[], bool stay_stopped, struct ai_target **ret)
{
	int pipe_fds[2];
	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		return ai_error_from_errno(errno, "pipe");
	fflush(NULL);
	ai_registry_block_forwarded();
	pid_t pid = fork();
	if (pid < 0) {
		int errnum = errno;
		ai_registry_restore_mask();
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		return ai_error_from_errno(errnum, "fork");
	}
	if (pid == 0) {
		ai_registry_restore_mask();
		close(pipe_fds[0]);
		raise(SIGSTOP);
		execvp(argv[0], argv);
		int errnum = errno;
		ssize_t ignored = write(pipe_fds[1], &errnum, sizeof(errnum));
		(void)ignored;
		_exit(127);
	}
	close(pipe_fds[1]);
	int status;
	while (waitpid(pid, &status, WUNTRACED) < 0 && errno == EINTR)
		;
	struct ai_target *t = target_new(pid);
	t->launched = true;
	if (!WIFSTOPPED(status) ||
	    ptrace(PTRACE_SEIZE, pid, 0, (void *)(long)SEIZE_OPTIONS) < 0) {
		int errnum = errno;
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(pipe_fds[0]);
		ai_target_destroy(t);
		ai_registry_restore_mask();
		return ai_error_from_errno(errnum, "cannot trace the launched program");
	}
	add_thread(t, pid);
	/* Continue it from its self-inflicted stop; the SIGCONT comes back as a signal-delivery-stop,
	 * which is handed on like every other signal. Then run it until its exec. */
	kill(pid, SIGCONT);
	for (;;) {
		pid_t r = waitpid(pid, &status, __WALL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || WIFEXITED(status) || WIFSIGNALED(status)) {
			int errnum = 0;
			if (read(pipe_fds[0], &errnum, sizeof(errnum)) != (ssize_t)sizeof(errnum))
				errnum = ECHILD;
			close(pipe_fds[0]);
			ai_registry_remove(pid);
			t->thread_count = 0;
			ai_target_destroy(t);
			ai_registry_restore_mask();
			return ai_error_create(errnum == ENOENT ? AI_ERROR_NOT_FOUND : AI_ERROR_OS,
					       "cannot run %s: %s", argv[0], strerror(errnum));
		}
		if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_EXEC) {
			if (stay_stopped)
				mark_stopped(find_thread(t, pid), true);
			else
				ptrace(PTRACE_CONT, pid, 0, 0);
			break;
		}
		handle_run_event(t, pid, status);
	}
	close(pipe_fds[0]);
	read_exe_path(t);
	*ret = t;
	return NULL;
}

struct ai_error *ai_target_launch(char *const argv[], struct ai_target **ret)
{
	return launch(argv, false, ret);
}

struct ai_error *ai_target_launch_stopped(char *const argv[], struct ai_target **ret)
{
	return launch(argv, true, ret);
}

/* One event of the run loop. Returns true when the process is gone. */
static bool handle_run_event(struct ai_target *t, pid_t tid, int status)
{
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		if (tid == t->pid) {
			t->exited = true;
			t->exit_status = status;
			for (size_t i = 0; i < t->thread_count; i++)
				ai_registry_remove(t->threads[i].tid);
			t->thread_count = 0;
			return true;
		}
		remove_thread(t, tid);
		return false;
	}
	if (!WIFSTOPPED(status))
		return false;
	struct ai_thread *thread = add_thread(t, tid);
	int event = status >> 16;
	int sig = WSTOPSIG(status);
	thread->group_stopped = false;
	ai_watchpoint_arm(t, thread); /* a new thread's first stop, or the set changed */
	switch (event) {
	case PTRACE_EVENT_CLONE: {
		unsigned long new_tid;
		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &new_tid) == 0)
			add_thread(t, (pid_t)new_tid);
		ptrace(PTRACE_CONT, tid, 0, 0);
		break;
	}
	case PTRACE_EVENT_STOP:
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
			ptrace(PTRACE_LISTEN, tid, 0, 0); /* a job-control stop: keep it stopped */
		else
			ptrace(PTRACE_CONT, tid, 0, 0);
		break;
	case 0:
		if (sig == SIGTRAP && ai_breakpoint_note_hit(t, thread)) {
			mark_stopped(thread, true); /* reported by ai_target_run; stays stopped */
			break;
		}
		if (sig == SIGTRAP && ai_watchpoint_note_hit(t, thread)) {
			if (t->watch_tid == tid)
				mark_stopped(thread, true); /* reported by ai_target_run; stays stopped */
			else
				ptrace(PTRACE_CONT, tid, 0, 0);
			break;
		}
		ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig); /* a signal for the target: hand it on */
		break;
	default:
		ptrace(PTRACE_CONT, tid, 0, 0); /* exec, exit and other events */
		break;
	}
	return false;
}

struct ai_error *ai_target_run(struct ai_target *t, int timeout_ms, enum ai_run_event *event_ret,
			       int *status_ret)
{
	if (t->kind == AI_TARGET_CORE)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "a core file cannot run");
	if (t->is_stopped) {
		struct ai_error *err = ai_target_resume(t);
		if (err)
			return err;
	} else if (t->hit_tid) {
		/* The last hit is stepped over with the others stopped, so that none passes the
		 * breakpoint while its original byte is back. */
		t->stopped_at_us = ai_now_us();
		struct ai_error *err = stop_threads(t);
		t->is_stopped = true;
		if (!err && !t->exited)
			err = ai_target_resume(t);
		if (err)
			return err;
	} else if (t->watch_tid) {
		/* The last watchpoint hit: after the write, with nothing to step over. */
		struct ai_thread *thread = find_thread(t, t->watch_tid);
		t->watch_tid = 0;
		if (thread && thread->stopped)
			resume_thread(t, thread);
	}
	if (t->watch_missed && !t->exited) {
		t->watch_missed = false;
		*event_ret = AI_RUN_WATCHPOINT;
		return NULL;
	}
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : ai_now_us() + (uint64_t)timeout_ms * 1000u;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	while (!t->exited) {
		int status;
		pid_t tid = waitpid(-1, &status, __WALL | WNOHANG);
		if (tid > 0) {
			handle_run_event(t, tid, status);
			if (t->hit_tid && !t->exited) {
				*event_ret = AI_RUN_BREAKPOINT;
				return NULL;
			}
			if (t->watch_tid && !t->exited) {
				*event_ret = AI_RUN_WATCHPOINT;
				return NULL;
			}
			continue;
		}
		if (tid < 0 && errno != EINTR && errno != ECHILD)
			return ai_error_from_errno(errno, "waitpid");
		if (tid < 0 && errno == ECHILD) {
			/* Attached (not launched) and every thread is gone. */
			t->exited = true;
			t->exit_status = 0;
			break;
		}
		uint64_t now = ai_now_us();
		if (now >= deadline) {
			*event_ret = AI_RUN_TIMEOUT;
			return NULL;
		}
		/* Sleep until the next child event (SIGCHLD, blocked so that none is lost between
		 * waitpid and here) or the deadline. */
		uint64_t nap = AI_MIN(deadline - now, (uint64_t)1000000);
		struct timespec ts = { (time_t)(nap / 1000000), (long)(nap % 1000000) * 1000 };
		sigtimedwait(&chld, NULL, &ts);
	}
	*event_ret = AI_RUN_EXITED;
	*status_ret = t->exit_status;
	return NULL;
}
