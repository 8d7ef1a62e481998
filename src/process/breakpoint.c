/* Software breakpoints in a live target: an int3 (0xcc) written over the first byte of an
 * instruction with PTRACE_POKETEXT, the original byte kept here and in the signal-safe registry
 * (so that our own death restores it too).
 *
 * A thread that executes the int3 stops with SIGTRAP (si_code SI_KERNEL) and its pc one past the
 * breakpoint. That SIGTRAP is ours, never the target's: the pc is set back to the breakpoint and
 * the signal dropped. The thread that is reported (target->hit_tid) is stepped over it later:
 * original byte back, one PTRACE_SINGLESTEP, int3 again, all while every other thread is stopped
 * so that none runs through the address unseen. Other threads found on a breakpoint while the
 * world is being stopped just have their pc set back: they hit it again once resumed.
 *
 * Signals that arrive during the step are held back (the step is retried) and all kept: the
 * first goes with the PTRACE_CONT that resumes the thread, the others are queued to it again
 * with tgkill while it is stopped, so it takes them once it runs (their siginfo is lost: only
 * the kernel may queue a signal with another sender's siginfo). */
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/target.h"
#include "ai/util.h"
#include "breakpoint.h"
#include "registry.h"

#define INT3 0xcc
/* A thread that keeps receiving signals while it is stepped over: give up after this many. */
#define STEP_TRIES 64

struct breakpoint {
	uint64_t address;
	uint8_t original;
};

struct ai_breakpoint_set {
	struct breakpoint *items;
	size_t count, capacity;
};

static struct breakpoint *find(const struct ai_target *t, uint64_t address)
{
	if (!t->breakpoints)
		return NULL;
	for (size_t i = 0; i < t->breakpoints->count; i++) {
		if (t->breakpoints->items[i].address == address)
			return &t->breakpoints->items[i];
	}
	return NULL;
}

/* Writes one byte of code through the stopped thread tid; the old byte in *old_ret (may be NULL). */
static struct ai_error *poke_byte(pid_t tid, uint64_t address, uint8_t byte, uint8_t *old_ret)
{
	errno = 0;
	long word = ptrace(PTRACE_PEEKTEXT, tid, (void *)address, 0);
	if (errno)
		return ai_error_from_errno(errno, "cannot read the code at 0x%llx", (unsigned long long)address);
	if (old_ret)
		*old_ret = (uint8_t)(word & 0xff);
	word = (long)(((unsigned long)word & ~0xffUL) | byte);
	if (ptrace(PTRACE_POKETEXT, tid, (void *)address, (void *)word) < 0)
		return ai_error_from_errno(errno, "cannot write a breakpoint at 0x%llx", (unsigned long long)address);
	return NULL;
}

static pid_t any_stopped_tid(const struct ai_target *t)
{
	for (size_t i = 0; i < t->thread_count; i++) {
		if (t->threads[i].stopped)
			return t->threads[i].tid;
	}
	return 0;
}

struct ai_error *ai_target_insert_breakpoint(struct ai_target *t, uint64_t address)
{
	if (t->kind != AI_TARGET_LIVE)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "breakpoints need a live process");
	if (find(t, address))
		return NULL;
	pid_t tid = any_stopped_tid(t);
	if (!tid)
		return ai_error_create(AI_ERROR_OTHER, "breakpoints can only be inserted while process %d is stopped",
				       (int)t->pid);
	if (!t->breakpoints)
		t->breakpoints = xcalloc(1, sizeof(*t->breakpoints));
	struct ai_breakpoint_set *set = t->breakpoints;
	uint8_t original;
	struct ai_error *err = poke_byte(tid, address, INT3, &original);
	if (err)
		return err;
	AI_GROW(set->items, set->capacity, set->count + 1);
	set->items[set->count++] = (struct breakpoint){ address, original };
	ai_registry_add_breakpoint(address, original);
	return NULL;
}

void ai_target_remove_breakpoints(struct ai_target *t)
{
	if (!t->breakpoints)
		return;
	pid_t tid = any_stopped_tid(t);
	for (size_t i = 0; i < t->breakpoints->count; i++) {
		struct breakpoint *bp = &t->breakpoints->items[i];
		if (tid) {
			struct ai_error *err = poke_byte(tid, bp->address, bp->original, NULL);
			ai_error_destroy(err); /* the process is gone: nothing left to restore */
		}
		ai_registry_remove_breakpoint(bp->address);
	}
	free(t->breakpoints->items);
	free(t->breakpoints);
	t->breakpoints = NULL;
}

bool ai_target_has_breakpoint(const struct ai_target *t, uint64_t address)
{
	return find(t, address) != NULL;
}

void ai_target_remove_breakpoint(struct ai_target *t, uint64_t address)
{
	struct breakpoint *bp = find(t, address);
	if (!bp)
		return;
	pid_t tid = any_stopped_tid(t);
	if (tid)
		ai_error_destroy(poke_byte(tid, bp->address, bp->original, NULL)); /* gone: nothing to restore */
	ai_registry_remove_breakpoint(bp->address);
	*bp = t->breakpoints->items[--t->breakpoints->count];
}

/* The program's entry point (AT_ENTRY of its auxiliary vector), or 0. */
static uint64_t entry_point(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	FILE *in = fopen(path, "r");
	if (!in)
		return 0;
	uint64_t pair[2], entry = 0;
	while (!entry && fread(pair, sizeof(pair), 1, in) == 1 && pair[0] != AT_NULL)
		if (pair[0] == AT_ENTRY)
			entry = pair[1];
	fclose(in);
	return entry;
}

struct ai_error *ai_target_run_to_entry(struct ai_target *t)
{
	uint64_t entry = entry_point(t->pid);
	if (!entry)
		return ai_error_create(AI_ERROR_OTHER, "cannot read the entry point of process %d from its auxv", (int)t->pid);
	struct ai_error *err = ai_target_stop(t);
	if (!err && !find(t, entry))
		err = ai_target_insert_breakpoint(t, entry);
	for (;;) {
		enum ai_run_event event;
		int status;
		if (!err)
			err = ai_target_run(t, -1, &event, &status);
		if (err || event == AI_RUN_EXITED)
			break;
		if (event == AI_RUN_BREAKPOINT && t->hit_address == entry) {
			err = ai_target_stop(t); /* all-stop, the thread at the entry, not stepped yet */
			break;
		}
	}
	if (!t->exited && t->is_stopped)
		ai_target_remove_breakpoint(t, entry); /* the thread then runs the original byte */
	return err;
}

bool ai_breakpoint_claim_trap(struct ai_target *t, struct ai_thread *thread)
{
	if (!t->breakpoints || !t->breakpoints->count)
		return false;
	siginfo_t info;
	if (ptrace(PTRACE_GETSIGINFO, thread->tid, 0, &info) < 0 || info.si_code != SI_KERNEL)
		return false;
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, thread->tid, 0, &regs) < 0 || !find(t, regs.rip - 1))
		return false;
	regs.rip--;
	if (ptrace(PTRACE_SETREGS, thread->tid, 0, &regs) < 0)
		return false;
	thread->regs = regs;
	return true;
}

bool ai_breakpoint_note_hit(struct ai_target *t, struct ai_thread *thread)
{
	if (!ai_breakpoint_claim_trap(t, thread))
		return false;
	t->hit_tid = thread->tid;
	t->hit_address = thread->regs.rip;
	t->hit_regs = thread->regs;
	return true;
}

bool ai_breakpoint_drain_traps(struct ai_target *t, struct ai_thread *thread)
{
	pid_t tid = thread->tid;
	for (int i = 0; i < 8 && ai_registry_trap_queued(tid); i++) {
		ai_registry_set_stopped(tid, false, 0); /* running, for our signal handlers */
		if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
			return true;
		int status;
		pid_t r;
		while ((r = waitpid(tid, &status, __WALL)) < 0 && errno == EINTR)
			;
		if (r != tid || WIFEXITED(status) || WIFSIGNALED(status)) {
			ai_breakpoint_thread_gone(t, tid, r == tid ? status : 0);
			return false;
		}
		int sig = WSTOPSIG(status);
		if (status >> 16)
			continue; /* an event stop: look again */
		if (sig == SIGTRAP && (ai_breakpoint_claim_trap(t, thread) || ai_watchpoint_claim_trap(t, thread)))
			continue;
		if (!thread->pending_signal)
			thread->pending_signal = sig;
		else
			syscall(SYS_tgkill, (int)t->pid, (int)tid, sig); /* taken once it runs */
		if (sig == SIGTRAP)
			break; /* the program's own: delivered at the detach */
	}
	ai_registry_set_stopped(tid, true, thread->pending_signal);
	return true;
}

struct ai_error *ai_breakpoint_step_over(struct ai_target *t, struct ai_thread *thread)
{
	pid_t tid = thread->tid;
	uint64_t address = t->hit_address;
	t->hit_tid = 0;
	struct breakpoint *bp = find(t, address);
	if (!bp)
		return NULL; /* removed meanwhile: the thread runs the original code */
	struct ai_error *err = poke_byte(tid, address, bp->original, NULL);
	if (err)
		return err;
	bool stepped = false, gone = false;
	int held[STEP_TRIES];
	size_t held_count = 0;
	for (int i = 0; i < STEP_TRIES && !stepped && !gone; i++) {
		ai_registry_set_stopped(tid, false, 0); /* running, for our signal handlers */
		if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) < 0) {
			gone = errno == ESRCH;
			if (!gone)
				return ai_error_from_errno(errno, "cannot step thread %d over a breakpoint", (int)tid);
			break;
		}
		int status;
		pid_t r;
		while ((r = waitpid(tid, &status, __WALL)) < 0 && errno == EINTR)
			;
		if (r < 0 || WIFEXITED(status) || WIFSIGNALED(status)) {
			gone = true;
			ai_breakpoint_thread_gone(t, tid, r == tid ? status : 0);
			break;
		}
		int event = status >> 16, sig = WSTOPSIG(status);
		if (event == 0 && sig == SIGTRAP) {
			stepped = true;
			/* The stepped instruction wrote a watched byte: DR6 says so with the step. */
			if (ai_watchpoint_claim_trap(t, thread))
				t->watch_missed = t->watch_count > 0;
		} else if (event == 0) {
			held[held_count++] = sig; /* delivered when it resumes, after the step */
		}
		/* a PTRACE_EVENT_STOP (our interrupt, a job-control stop): step again */
	}
	for (size_t i = 0; i < held_count && !gone; i++) {
		if (!thread->pending_signal)
			thread->pending_signal = held[i];
		else
			syscall(SYS_tgkill, (int)t->pid, (int)tid, held[i]);
	}
	if (!gone)
		ai_registry_set_stopped(tid, true, thread->pending_signal);
	/* Put the int3 back through any thread still stopped. */
	pid_t via = gone ? any_stopped_tid(t) : tid;
	if (via)
		err = poke_byte(via, address, INT3, NULL);
	if (!err && !stepped && !gone)
		err = ai_error_create(AI_ERROR_OTHER, "thread %d did not step over the breakpoint at 0x%llx",
				      (int)tid, (unsigned long long)address);
	return err;
}
