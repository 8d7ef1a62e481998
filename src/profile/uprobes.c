/* uprobes through perf_event_open's uprobe PMU: the kernel puts a breakpoint in the file's page
 * cache, and every process that maps the file and runs the function writes a sample into our
 * ring buffer; the target never stops. An event has no pid filter when it is per CPU (the only
 * way to see every thread of a running process, new ones included), so each is opened on every
 * CPU and samples of other processes are dropped. All events of one CPU write into the ring
 * buffer of the first (PERF_EVENT_IOC_SET_OUTPUT). Closing the fds removes the probes, and the
 * kernel closes them when we die however we die.
 *
 * CPU samples (ai_uprobes_open_sampling) cannot be per CPU and filtered by process, so they are
 * per thread and CPU: one event for each thread listed in /proc/PID/task when sampling starts,
 * inherited by every thread these create later (only a thread made between the listing and the
 * opening of its creator's events is missed). They write into the
 * same per-CPU buffers, so their records come out sorted with the probes' events. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ai/profile.h"
#include "ai/util.h"

#define UPROBE_PMU "/sys/bus/event_source/devices/uprobe"
#define RING_PAGES 256          /* data pages per CPU ring buffer: 1 MiB */

/* The integer argument registers of the x86-64 SysV ABI, as perf numbers them
 * (arch/x86/include/uapi/asm/perf_regs.h). */
static const unsigned arg_regs[] = { 5 /* DI */, 4 /* SI */, 3 /* DX */, 2 /* CX */, 16 /* R8 */,
				     17 /* R9 */ };

struct ring {
	int fd;              /* the CPU's first event, which owns the buffer */
	void *base;          /* owned mapping: 1 metadata page + RING_PAGES */
	size_t size;         /* of the data area */
};

struct event_id {
	uint64_t id;
	uint32_t probe;
	bool ret;
	bool sample;         /* a CPU sampling event (the probe is then not meaningful) */
};

struct ai_uprobes {
	pid_t pid;
	int *fds;            /* owned, every event */
	size_t fd_count, fd_capacity;
	struct ring *rings;
	size_t ring_count;
	struct event_id *ids; /* sorted by id */
	size_t id_count, id_capacity;
	struct ai_uprobe_event *pending; /* read, not yet taken, sorted on take */
	size_t pending_count, pending_capacity, taken;
	uint64_t lost;
	uint8_t *record;     /* scratch for a record that wraps around the buffer */
	size_t record_capacity;
	unsigned sample_events; /* CPU sampling events open */
	uint64_t samples;    /* CPU samples of the process read */
};

static long perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group, unsigned long flags)
{
	return syscall(SYS_perf_event_open, attr, pid, cpu, group, flags);
}

static bool read_int_file(const char *path, long *ret)
{
	char *text = ai_read_small_file(path, NULL);
	if (!text)
		return false;
	char *end;
	long v = strtol(text, &end, 10);
	bool ok = end != text;
	free(text);
	if (ok)
		*ret = v;
	return ok;
}

/* The bit of attr.config that makes a uretprobe: "config:0" in the PMU's format directory. */
static bool retprobe_bit(unsigned *ret)
{
	char *text = ai_read_small_file(UPROBE_PMU "/format/retprobe", NULL);
	if (!text)
		return false;
	unsigned bit;
	bool ok = sscanf(text, "config:%u", &bit) == 1 && bit < 64;
	free(text);
	if (ok)
		*ret = bit;
	return ok;
}

/* Why perf_event_open refused us, in one line with the fix. */
static struct ai_error *refused(int errnum)
{
	long paranoid = -100;
	read_int_file("/proc/sys/kernel/perf_event_paranoid", &paranoid);
	if (errnum == EACCES || errnum == EPERM) {
		char level[64] = "unknown";
		if (paranoid != -100)
			snprintf(level, sizeof(level), "%ld", paranoid);
		return ai_error_create(AI_ERROR_PERMISSION,
				       "perf events are not allowed: uprobe events need CAP_PERFMON (or root), and "
				       "kernel.perf_event_paranoid is %s; run as root, or give async-inspect "
				       "cap_perfmon (setcap cap_perfmon,cap_sys_ptrace+ep), or, inside a container, "
				       "allow perf_event_open in its seccomp profile", level);
	}
	if (errnum == ENOSYS)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "perf events are not allowed: perf_event_open is not "
				       "available here (a container's seccomp profile, or a kernel without "
				       "CONFIG_PERF_EVENTS)");
	return ai_error_from_errno(errnum, "perf events are not allowed: perf_event_open of a uprobe failed");
}

/* CAP_PERFMON (38) or CAP_SYS_ADMIN (21) in our effective set, from /proc/self/status. */
static bool perfmon_capable(void)
{
	char *status = ai_read_small_file("/proc/self/status", NULL);
	const char *line = status ? strstr(status, "\nCapEff:") : NULL;
	unsigned long long caps = line ? strtoull(line + strlen("\nCapEff:"), NULL, 16) : ~0ull;
	free(status);
	return (caps >> 38 & 1) || (caps >> 21 & 1);
}

struct ai_error *ai_uprobes_available(void)
{
	long type;
	unsigned bit;
	if (!read_int_file(UPROBE_PMU "/type", &type) || !retprobe_bit(&bit))
		return ai_error_create(AI_ERROR_UNSUPPORTED, "perf events are not allowed: this kernel has no uprobe "
				       "PMU (%s is missing: CONFIG_UPROBE_EVENTS)", UPROBE_PMU);
	/* The kernel makes a uprobe event only for perfmon_capable() callers: say so before a
	 * snapshot stops the target for nothing. (ai_uprobes_open still explains a refusal.) */
	if (!perfmon_capable())
		return refused(EACCES);
	return NULL;
}

static int compare_ids(const void *a, const void *b)
{
	uint64_t x = ((const struct event_id *)a)->id, y = ((const struct event_id *)b)->id;
	return x < y ? -1 : x > y;
}

static const struct event_id *find_id(const struct ai_uprobes *u, uint64_t id)
{
	size_t lo = 0, hi = u->id_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (u->ids[mid].id == id)
			return &u->ids[mid];
		if (u->ids[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct ai_error *open_one(struct ai_uprobes *u, const struct ai_uprobe_spec *spec, uint32_t probe,
				 bool ret, int cpu, uint32_t type, unsigned bit, struct ring *ring)
{
	struct perf_event_attr attr = {
		.size = sizeof(attr),
		.type = type,
		.config = ret ? 1ull << bit : 0,
		.disabled = 1,
		.sample_period = 1,
		.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER,
		.sample_regs_user = 1ull << arg_regs[spec->arg],
		.use_clockid = 1,
		.clockid = CLOCK_MONOTONIC,
		.watermark = 1,
		.wakeup_watermark = RING_PAGES * 4096 / 4,
	};
	attr.uprobe_path = (uint64_t)(uintptr_t)spec->path;
	attr.probe_offset = spec->offset;
	long fd = perf_event_open(&attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		if (errno == ENODEV && !ring->base)
			return NULL; /* an offline CPU */
		if (errno == EACCES || errno == EPERM || errno == ENOSYS)
			return refused(errno);
		return ai_error_from_errno(errno, "perf_event_open of a %s on %s at offset 0x%llx (CPU %d)",
					   ret ? "uretprobe" : "uprobe", spec->path,
					   (unsigned long long)spec->offset, cpu);
	}
	AI_GROW(u->fds, u->fd_capacity, u->fd_count + 1);
	u->fds[u->fd_count++] = (int)fd;
	uint64_t id;
	if (ioctl((int)fd, PERF_EVENT_IOC_ID, &id) < 0)
		return ai_error_from_errno(errno, "PERF_EVENT_IOC_ID");
	AI_GROW(u->ids, u->id_capacity, u->id_count + 1);
	u->ids[u->id_count++] = (struct event_id){ .id = id, .probe = probe, .ret = ret };
	if (!ring->base) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t length = page * (1 + RING_PAGES);
		void *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
		if (base == MAP_FAILED)
			return ai_error_from_errno(errno, "mmap of a perf ring buffer (%zu KiB)", length / 1024);
		ring->fd = (int)fd;
		ring->base = base;
		ring->size = page * RING_PAGES;
	} else if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, ring->fd) < 0) {
		return ai_error_from_errno(errno, "PERF_EVENT_IOC_SET_OUTPUT");
	}
	return NULL;
}

struct ai_error *ai_uprobes_open(const struct ai_uprobe_spec *specs, size_t count, pid_t pid,
				 struct ai_uprobes **ret)
{
	long type;
	unsigned bit;
	if (!read_int_file(UPROBE_PMU "/type", &type) || !retprobe_bit(&bit))
		return ai_uprobes_available();
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	if (cpus < 1)
		cpus = 1;
	struct ai_uprobes *u = xcalloc(1, sizeof(*u));
	u->pid = pid;
	u->rings = xcalloc((size_t)cpus, sizeof(*u->rings));
	u->ring_count = (size_t)cpus;
	struct ai_error *err = NULL;
	for (size_t i = 0; i < count && !err; i++) {
		if (specs[i].arg >= AI_ARRAY_SIZE(arg_regs)) {
			err = ai_error_create(AI_ERROR_UNSUPPORTED, "a probe's argument %u is not in a register",
					      specs[i].arg);
			break;
		}
		for (int cpu = 0; cpu < cpus && !err; cpu++) {
			err = open_one(u, &specs[i], (uint32_t)i, false, cpu, (uint32_t)type, bit, &u->rings[cpu]);
			if (!err && specs[i].ret && u->rings[cpu].base)
				err = open_one(u, &specs[i], (uint32_t)i, true, cpu, (uint32_t)type, bit,
					       &u->rings[cpu]);
		}
	}
	if (err) {
		ai_uprobes_close(u);
		return err;
	}
	qsort(u->ids, u->id_count, sizeof(*u->ids), compare_ids);
	*ret = u;
	return NULL;
}

struct ai_error *ai_uprobes_enable(struct ai_uprobes *u)
{
	for (size_t i = 0; i < u->fd_count; i++)
		if (ioctl(u->fds[i], PERF_EVENT_IOC_ENABLE, 0) < 0)
			return ai_error_from_errno(errno, "PERF_EVENT_IOC_ENABLE");
	return NULL;
}

void ai_uprobes_disable(struct ai_uprobes *u)
{
	for (size_t i = 0; i < u->fd_count; i++)
		ioctl(u->fds[i], PERF_EVENT_IOC_DISABLE, 0);
}

static void parse_cpu_sample(struct ai_uprobes *u, const uint8_t *p, size_t size);

/* A sample: id, pid and tid, time, then the ABI word and the one register asked for. */
static void parse_sample(struct ai_uprobes *u, const uint8_t *p, size_t size)
{
	if (size < 8 + 8 + 8 + 8 + 8)
		return;
	uint64_t id, time, abi, reg = 0;
	uint32_t pid, tid;
	memcpy(&id, p + 8, 8);
	const struct event_id *e = find_id(u, id);
	if (e && e->sample) {
		parse_cpu_sample(u, p, size);
		return;
	}
	memcpy(&pid, p + 16, 4);
	memcpy(&tid, p + 20, 4);
	memcpy(&time, p + 24, 8);
	memcpy(&abi, p + 32, 8);
	if (abi != PERF_SAMPLE_REGS_ABI_NONE && size >= 48)
		memcpy(&reg, p + 40, 8);
	if ((pid_t)pid != u->pid)
		return; /* another process that maps the same file */
	if (!e)
		return;
	AI_GROW(u->pending, u->pending_capacity, u->pending_count + 1);
	u->pending[u->pending_count++] = (struct ai_uprobe_event){
		.time_ns = time, .tid = tid, .probe = e->probe, .ret = e->ret, .arg = reg,
	};
}

static void drain(struct ai_uprobes *u, struct ring *ring)
{
	struct perf_event_mmap_page *meta = ring->base;
	uint8_t *data = (uint8_t *)ring->base + (size_t)sysconf(_SC_PAGESIZE);
	uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = meta->data_tail;
	while (tail < head) {
		struct perf_event_header header;
		size_t at = (size_t)(tail % ring->size);
		for (size_t i = 0; i < sizeof(header); i++)
			((uint8_t *)&header)[i] = data[(at + i) % ring->size];
		if (header.size < sizeof(header) || tail + header.size > head)
			break;
		const uint8_t *record;
		if (at + header.size <= ring->size) {
			record = data + at;
		} else {
			AI_GROW(u->record, u->record_capacity, header.size);
			size_t first = ring->size - at;
			memcpy(u->record, data + at, first);
			memcpy(u->record + first, data, header.size - first);
			record = u->record;
		}
		if (header.type == PERF_RECORD_SAMPLE) {
			parse_sample(u, record, header.size);
		} else if (header.type == PERF_RECORD_LOST && header.size >= 24) {
			uint64_t lost;
			memcpy(&lost, record + 16, 8);
			u->lost += lost;
		}
		tail += header.size;
	}
	__atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
}

/* ---- CPU sampling ---- */

/* The user registers a sample copies: every general register (perf's x86 numbers: AX 0 to IP 8,
 * R8 16 to R15 23), in the order of the mask's bits. */
#define SAMPLE_REGS_MASK (0x1ffull | 0xffull << 16)

/* A CPU sample: id, ip, pid and tid, time, the user registers (ABI word, then the mask's), and
 * the user stack (its size, that many bytes, then how many of them were copied). */
static void parse_cpu_sample(struct ai_uprobes *u, const uint8_t *p, size_t size)
{
	size_t at = 8 + 8 + 8; /* header, id, ip */
	if (size < at + 8 + 8 + 8)
		return;
	uint32_t pid, tid;
	uint64_t time, abi;
	memcpy(&pid, p + at, 4);
	memcpy(&tid, p + at + 4, 4);
	memcpy(&time, p + at + 8, 8);
	memcpy(&abi, p + at + 16, 8);
	at += 24;
	if ((pid_t)pid != u->pid || abi == PERF_SAMPLE_REGS_ABI_NONE)
		return; /* (no user registers: a kernel thread, or a sample taken in the kernel) */
	struct ai_cpu_sample *s = xcalloc(1, sizeof(*s));
	for (unsigned r = 0; r < AI_CPU_SAMPLE_REGS; r++) {
		if (!(SAMPLE_REGS_MASK >> r & 1))
			continue;
		if (at + 8 > size)
			goto bad;
		memcpy(&s->regs[r], p + at, 8);
		at += 8;
	}
	uint64_t stack_size, dyn_size = 0;
	if (at + 8 > size)
		goto bad;
	memcpy(&stack_size, p + at, 8);
	at += 8;
	if (stack_size > size - at || (stack_size && size - at - stack_size < 8))
		goto bad;
	if (stack_size)
		memcpy(&dyn_size, p + at + stack_size, 8);
	dyn_size = AI_MIN(dyn_size, stack_size);
	s->stack = dyn_size ? xmalloc(dyn_size) : NULL;
	if (dyn_size)
		memcpy(s->stack, p + at, dyn_size);
	s->stack_size = dyn_size;
	s->stack_address = s->regs[AI_CPU_SAMPLE_SP];
	AI_GROW(u->pending, u->pending_capacity, u->pending_count + 1);
	u->pending[u->pending_count++] = (struct ai_uprobe_event){ .time_ns = time, .tid = tid, .sample = s };
	u->samples++;
	return;
bad:
	free(s);
}

/* The threads of pid now, from /proc/PID/task. */
static size_t list_threads(pid_t pid, pid_t **ret)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *dir = opendir(path);
	pid_t *tids = NULL;
	size_t count = 0, capacity = 0;
	struct dirent *d;
	while (dir && (d = readdir(dir))) {
		char *end;
		long tid = strtol(d->d_name, &end, 10);
		if (end == d->d_name || *end || tid <= 0)
			continue;
		AI_GROW(tids, capacity, count + 1);
		tids[count++] = (pid_t)tid;
	}
	if (dir)
		closedir(dir);
	*ret = tids;
	return count;
}

static struct ai_error *sampling_refused(int errnum)
{
	long paranoid = -100;
	read_int_file("/proc/sys/kernel/perf_event_paranoid", &paranoid);
	char level[64] = "unknown";
	if (paranoid != -100)
		snprintf(level, sizeof(level), "%ld", paranoid);
	if (errnum == EACCES || errnum == EPERM)
		return ai_error_create(AI_ERROR_PERMISSION,
				       "perf events are not allowed: CPU sampling of another user's process needs "
				       "CAP_PERFMON (or root), and kernel.perf_event_paranoid is %s; run as root, "
				       "or give async-inspect cap_perfmon, or profile without samples (--rate 0)",
				       level);
	if (errnum == EMFILE || errnum == ENFILE)
		return ai_error_create(AI_ERROR_OTHER, "too many files open to sample every thread on every CPU (an "
				       "event each): raise the limit (ulimit -n), or profile without samples (--rate 0)");
	if (errnum == ENOENT || errnum == ENODEV || errnum == EOPNOTSUPP)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "perf events are not allowed: this kernel has no "
				       "cpu-clock software event to sample with; profile without samples (--rate 0)");
	return ai_error_from_errno(errnum, "perf events are not allowed: perf_event_open of a CPU sampling event "
				   "failed; profile without samples (--rate 0)");
}

struct ai_error *ai_uprobes_open_sampling(struct ai_uprobes *u, unsigned rate_hz)
{
	pid_t *tids;
	size_t count = list_threads(u->pid, &tids);
	struct ai_error *err = NULL;
	if (!count)
		err = ai_error_create(AI_ERROR_TARGET_EXITED, "process %d has no threads left to sample", (int)u->pid);
	bool opened = false;
	for (size_t t = 0; t < count && !err; t++) {
		for (size_t cpu = 0; cpu < u->ring_count && !err; cpu++) {
			struct ring *ring = &u->rings[cpu];
			if (!ring->base)
				continue; /* an offline CPU */
			/* One event per thread and CPU, inherited by the threads it creates from now on
			 * (an inherited event writes where its parent does: this CPU's buffer). */
			struct perf_event_attr attr = {
				.size = sizeof(attr),
				.type = PERF_TYPE_SOFTWARE,
				.config = PERF_COUNT_SW_CPU_CLOCK,
				.disabled = 1,
				.freq = 1,
				.sample_freq = rate_hz,
				.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID |
					       PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER,
				.sample_regs_user = SAMPLE_REGS_MASK,
				.sample_stack_user = AI_CPU_SAMPLE_STACK,
				.inherit = 1,
				.exclude_kernel = 1,
				.exclude_hv = 1,
				.use_clockid = 1,
				.clockid = CLOCK_MONOTONIC,
				.watermark = 1,
				.wakeup_watermark = RING_PAGES * 4096 / 4,
			};
			long fd = perf_event_open(&attr, tids[t], (int)cpu, -1, PERF_FLAG_FD_CLOEXEC);
			if (fd < 0) {
				if (errno == ESRCH)
					break; /* the thread has exited meanwhile */
				err = sampling_refused(errno);
				break;
			}
			AI_GROW(u->fds, u->fd_capacity, u->fd_count + 1);
			u->fds[u->fd_count++] = (int)fd;
			uint64_t id;
			if (ioctl((int)fd, PERF_EVENT_IOC_ID, &id) < 0) {
				err = ai_error_from_errno(errno, "PERF_EVENT_IOC_ID");
				break;
			}
			AI_GROW(u->ids, u->id_capacity, u->id_count + 1);
			u->ids[u->id_count++] = (struct event_id){ .id = id, .sample = true };
			if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, ring->fd) < 0) {
				err = ai_error_from_errno(errno, "PERF_EVENT_IOC_SET_OUTPUT of a CPU sampling event");
				break;
			}
			u->sample_events++;
			opened = true;
		}
	}
	free(tids);
	if (!err && !opened)
		err = ai_error_create(AI_ERROR_TARGET_EXITED, "process %d has no threads left to sample", (int)u->pid);
	qsort(u->ids, u->id_count, sizeof(*u->ids), compare_ids);
	return err;
}

uint64_t ai_uprobes_samples(const struct ai_uprobes *u)
{
	return u->samples;
}

struct ai_error *ai_uprobes_poll(struct ai_uprobes *u, int timeout_ms)
{
	struct pollfd fds[256];
	nfds_t n = 0;
	for (size_t i = 0; i < u->ring_count && n < AI_ARRAY_SIZE(fds); i++)
		if (u->rings[i].base)
			fds[n++] = (struct pollfd){ .fd = u->rings[i].fd, .events = POLLIN };
	if (poll(fds, n, timeout_ms) < 0 && errno != EINTR)
		return ai_error_from_errno(errno, "poll of the perf ring buffers");
	for (size_t i = 0; i < u->ring_count; i++)
		if (u->rings[i].base)
			drain(u, &u->rings[i]);
	return NULL;
}

static int compare_events(const void *a, const void *b)
{
	const struct ai_uprobe_event *x = a, *y = b;
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	/* The same nanosecond on one thread: an entry before a return cannot happen after it. */
	return (int)x->ret - (int)y->ret;
}

void ai_uprobes_take(struct ai_uprobes *u, bool all, const struct ai_uprobe_event **events_ret,
		     size_t *count_ret)
{
	/* Drop what the previous call handed out. */
	for (size_t i = 0; i < u->taken; i++)
		ai_cpu_sample_free(u->pending[i].sample);
	if (u->taken) /* pending is NULL before the first event: no memmove or qsort of NULL */
		memmove(u->pending, u->pending + u->taken, (u->pending_count - u->taken) * sizeof(*u->pending));
	u->pending_count -= u->taken;
	u->taken = 0;
	/* Each CPU's buffer is in time order, not the whole: sort, and keep back the newest events,
	 * which another CPU's older ones, not yet read, could still precede. */
	if (u->pending_count > 1)
		qsort(u->pending, u->pending_count, sizeof(*u->pending), compare_events);
	size_t n = u->pending_count;
	if (!all) {
		uint64_t cutoff = ai_now_ns();
		cutoff = cutoff > AI_UPROBES_ORDER_MARGIN_NS ? cutoff - AI_UPROBES_ORDER_MARGIN_NS : 0;
		while (n && u->pending[n - 1].time_ns > cutoff)
			n--;
	}
	u->taken = n;
	*events_ret = u->pending;
	*count_ret = n;
}

void ai_cpu_sample_free(struct ai_cpu_sample *s)
{
	if (!s)
		return;
	free(s->stack);
	free(s);
}

uint64_t ai_uprobes_lost(const struct ai_uprobes *u)
{
	return u->lost;
}

size_t ai_uprobes_event_count(const struct ai_uprobes *u)
{
	return u->fd_count;
}

void ai_uprobes_close(struct ai_uprobes *u)
{
	if (!u)
		return;
	ai_uprobes_disable(u);
	size_t length = (size_t)sysconf(_SC_PAGESIZE) * (1 + RING_PAGES);
	for (size_t i = 0; i < u->ring_count; i++)
		if (u->rings[i].base)
			munmap(u->rings[i].base, length);
	for (size_t i = 0; i < u->fd_count; i++)
		close(u->fds[i]);
	for (size_t i = 0; i < u->pending_count; i++)
		ai_cpu_sample_free(u->pending[i].sample);
	free(u->fds);
	free(u->rings);
	free(u->ids);
	free(u->pending);
	free(u->record);
	free(u);
}
