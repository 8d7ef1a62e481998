/* Hardware watchpoints in a live target: the x86-64 debug registers of every thread, written
 * with PTRACE_POKEUSER at offsetof(struct user, u_debugreg). DR0-3 hold the addresses, DR7
 * enables each one for writes of its length; a thread that writes a watched byte stops with
 * SIGTRAP after the writing instruction (a trap, not a fault: nothing to step over), its DR6
 * saying which watchpoint it was.
 *
 * Debug registers are per thread and not inherited by new threads: every thread is armed when
 * the set changes (the target is stopped then), and a thread whose armed set is older than the
 * target's (a thread created since, or one that was not stopped) is armed again before it runs
 * (ai_watchpoint_arm, called on every resume). Every exit path clears DR7 on every thread:
 * ai_target_detach, and the registry for our own death and signals. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#include "ai/target.h"
#include "breakpoint.h"
#include "registry.h"

#define DR_OFFSET(n) (offsetof(struct user, u_debugreg) + (n) * sizeof(long))
#define DR6_HITS 0xfUL /* B0-B3: which watchpoint triggered */

/* DR7's LEN field for a watch of size bytes (1, 2, 4 or 8). */
static unsigned long len_bits(uint8_t size)
{
	switch (size) {
	case 2: return 1;
	case 8: return 2;
	case 4: return 3;
	default: return 0;
	}
}

static unsigned long dr7_value(const struct ai_target *t)
{
	unsigned long dr7 = 0;
	for (unsigned i = 0; i < t->watch_count; i++) {
		dr7 |= 1UL << (2 * i);                         /* L_i: enabled for this thread */
		dr7 |= 1UL << (16 + 4 * i);                    /* R/W_i = 01: data writes */
		dr7 |= len_bits(t->watch_size[i]) << (18 + 4 * i);
	}
	return dr7;
}

/* Writes the target's watchpoints into a thread in a ptrace-stop; 0 or an errno. */
static int write_registers(const struct ai_target *t, pid_t tid)
{
	/* DR7 off first: an address is only taken while its slot is disabled. */
	if (ptrace(PTRACE_POKEUSER, tid, (void *)DR_OFFSET(7), (void *)0L) < 0)
		return errno;
	for (unsigned i = 0; i < t->watch_count; i++)
		if (ptrace(PTRACE_POKEUSER, tid, (void *)DR_OFFSET(i), (void *)t->watch_address[i]) < 0)
			return errno;
	if (t->watch_count && ptrace(PTRACE_POKEUSER, tid, (void *)DR_OFFSET(7), (void *)dr7_value(t)) < 0)
		return errno;
	return 0;
}

bool ai_watchpoint_arm(struct ai_target *t, struct ai_thread *thread)
{
	if (thread->watch_generation == t->watch_generation)
		return true;
	int errnum = write_registers(t, thread->tid);
	if (errnum == ESRCH)
		return true; /* gone: its exit is reported next */
	if (errnum) {
		if (!t->watch_errno) {
			t->watch_errno = errnum;
			t->watch_errno_tid = thread->tid;
		}
		return false;
	}
	thread->watch_generation = t->watch_generation;
	return true;
}

/* Arms every stopped thread; the first failure as an error. */
static struct ai_error *arm_all(struct ai_target *t)
{
	t->watch_errno = 0;
	for (size_t i = 0; i < t->thread_count; i++)
		if (t->threads[i].stopped)
			ai_watchpoint_arm(t, &t->threads[i]);
	if (!t->watch_errno)
		return NULL;
	return ai_error_from_errno(t->watch_errno,
				   "cannot set a hardware watchpoint in thread %d of process %d (its debug registers through PTRACE_POKEUSER; some virtual machines and sandboxes do not give them to ptrace)",
				   (int)t->watch_errno_tid, (int)t->pid);
}

struct ai_error *ai_target_set_watchpoints(struct ai_target *t, const uint64_t *addresses, const uint8_t *sizes,
					   unsigned count)
{
	if (t->kind != AI_TARGET_LIVE)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "watchpoints need a live process");
	if (!t->is_stopped)
		return ai_error_create(AI_ERROR_OTHER, "watchpoints can only be set while process %d is stopped",
				       (int)t->pid);
	if (count > AI_WATCHPOINTS)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%u watchpoints asked for: x86-64 has %d debug registers",
				       count, AI_WATCHPOINTS);
	for (unsigned i = 0; i < count; i++) {
		uint8_t size = sizes[i];
		if ((size != 1 && size != 2 && size != 4 && size != 8) || addresses[i] % size)
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
					       "a hardware watchpoint covers 1, 2, 4 or 8 aligned bytes, not %u at 0x%llx",
					       (unsigned)size, (unsigned long long)addresses[i]);
	}
	for (unsigned i = 0; i < count; i++) {
		t->watch_address[i] = addresses[i];
		t->watch_size[i] = sizes[i];
	}
	t->watch_count = count;
	t->watch_generation++;
	if (count)
		ai_registry_set_watching(true);
	struct ai_error *err = arm_all(t);
	if (err && count) {
		/* Some threads may have them: take them out of every one again. */
		t->watch_count = 0;
		t->watch_generation++;
		ai_error_destroy(arm_all(t));
	}
	return err;
}

void ai_target_clear_watchpoints(struct ai_target *t)
{
	if (t->kind != AI_TARGET_LIVE || (!t->watch_count && !t->watch_generation))
		return;
	if (t->watch_count) {
		t->watch_count = 0;
		t->watch_generation++;
	}
	ai_error_destroy(arm_all(t));
	t->watch_tid = 0;
	t->watch_missed = false;
	bool all = true;
	for (size_t i = 0; i < t->thread_count; i++)
		all &= t->threads[i].watch_generation == t->watch_generation;
	if (all)
		ai_registry_set_watching(false);
}

bool ai_watchpoint_claim_trap(struct ai_target *t, struct ai_thread *thread)
{
	if (!t->watch_generation)
		return false; /* never set: a SIGTRAP cannot be ours */
	errno = 0;
	long dr6 = ptrace(PTRACE_PEEKUSER, thread->tid, (void *)DR_OFFSET(6), 0);
	if (errno || !((unsigned long)dr6 & DR6_HITS))
		return false;
	/* DR6's bits are sticky on older kernels: clear them for the next trap. */
	ptrace(PTRACE_POKEUSER, thread->tid, (void *)DR_OFFSET(6), (void *)0L);
	t->watch_hits = (unsigned)((unsigned long)dr6 & DR6_HITS);
	return true;
}

bool ai_watchpoint_note_hit(struct ai_target *t, struct ai_thread *thread)
{
	if (!ai_watchpoint_claim_trap(t, thread))
		return false;
	if (!t->watch_count)
		return true; /* a trap of a watchpoint cleared since: ours, and nothing to report */
	t->watch_tid = thread->tid;
	return true;
}
