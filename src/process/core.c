/* A core file (e.g. from gdb's gcore, or the kernel) with the executable that produced it: threads
 * and registers from NT_PRSTATUS notes, memory from PT_LOAD segments, and the contents of mapped
 * files that the core leaves out (read-only code and data) from the files themselves, as NT_FILE
 * names them. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ai/target.h"
#include "ai/util.h"

/* Bytes of [start, ...) come from fd at file_offset + (address - start), up to file_size. */
struct file_region {
	int fd; /* borrowed from ai_core.fds */
	uint64_t start, file_offset, file_size;
	bool truncated; /* the core ends before this region does: file_size is where it ends */
};

struct ai_core {
	int core_fd;
	Elf *elf;
	struct file_region **regions; /* owned; each referenced by a memory segment */
	size_t region_count, region_capacity;
	int *fds;                     /* owned: the core and every mapped file we opened */
	size_t fd_count, fd_capacity;
	uint64_t at_entry, at_sysinfo_ehdr;
	char exe_name[17];            /* NT_PRPSINFO's pr_fname */
};

struct nt_file_entry {
	uint64_t start, end, offset;
	const char *path; /* points into the note data */
};

static struct ai_error *read_file_region(void *buf, uint64_t address, size_t count, void *arg)
{
	const struct file_region *r = arg;
	uint64_t offset = r->file_offset + (address - r->start);
	if (offset + count > r->file_size) {
		uint64_t first = offset >= r->file_size ? address : r->start + (r->file_size - r->file_offset);
		if (r->truncated)
			return ai_error_fault(first, "address 0x%" PRIx64 " is past the end of the truncated core file",
					      first);
		return ai_error_fault(address, "address 0x%" PRIx64 " is not in the core file", address);
	}
	size_t done = 0;
	while (done < count) {
		ssize_t n = pread(r->fd, (char *)buf + done, count - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ai_error_fault(address + done, "cannot read 0x%" PRIx64 " from the core file",
					      address + done);
		done += (size_t)n;
	}
	return NULL;
}

static void add_region(struct ai_target *t, int fd, uint64_t start, uint64_t end, uint64_t file_offset,
		       uint64_t file_size, bool truncated)
{
	struct ai_core *core = t->core;
	struct file_region *r = xmalloc(sizeof(*r));
	*r = (struct file_region){ fd, start, file_offset, file_size, truncated };
	AI_GROW(core->regions, core->region_capacity, core->region_count + 1);
	core->regions[core->region_count++] = r;
	ai_memory_add_segment(t->memory, start, end, read_file_region, r);
}

static int keep_fd(struct ai_core *core, int fd)
{
	AI_GROW(core->fds, core->fd_capacity, core->fd_count + 1);
	core->fds[core->fd_count++] = fd;
	return fd;
}

void ai_target_core_close(struct ai_target *t)
{
	struct ai_core *core = t->core;
	if (!core)
		return;
	if (core->elf)
		elf_end(core->elf);
	for (size_t i = 0; i < core->region_count; i++)
		free(core->regions[i]);
	free(core->regions);
	for (size_t i = 0; i < core->fd_count; i++)
		close(core->fds[i]);
	free(core->fds);
	free(core);
	t->core = NULL;
}

static void parse_prstatus(struct ai_target *t, const void *desc, size_t size)
{
	struct elf_prstatus status;
	if (size < sizeof(status))
		return;
	memcpy(&status, desc, sizeof(status));
	AI_GROW(t->threads, t->thread_capacity, t->thread_count + 1);
	struct ai_thread *thread = &t->threads[t->thread_count++];
	memset(thread, 0, sizeof(*thread));
	thread->tid = status.pr_pid;
	thread->state = '?';
	_Static_assert(sizeof(status.pr_reg) == sizeof(thread->regs), "elf_gregset_t is user_regs_struct");
	memcpy(&thread->regs, &status.pr_reg, sizeof(thread->regs));
	thread->regs_valid = true;
	if (t->pid == 0)
		t->pid = status.pr_pid; /* the first thread is the one that dumped (or the main one) */
}

/* NT_FILE: count, page size, count * (start, end, page offset), then count NUL-terminated paths. */
static size_t parse_nt_file(const char *desc, size_t size, struct nt_file_entry **entries_ret)
{
	if (size < 16)
		return 0;
	uint64_t count, page_size;
	memcpy(&count, desc, 8);
	memcpy(&page_size, desc + 8, 8);
	if (count > size / 24)
		return 0;
	struct nt_file_entry *entries = xcalloc(count, sizeof(*entries));
	const char *names = desc + 16 + count * 24, *end = desc + size;
	size_t n = 0;
	for (; n < count && names < end; n++) {
		uint64_t triple[3];
		memcpy(triple, desc + 16 + n * 24, sizeof(triple));
		size_t len = strnlen(names, (size_t)(end - names));
		if (names + len == end)
			break; /* a name the note cuts short is no C string: open() would read past it */
		entries[n] = (struct nt_file_entry){ triple[0], triple[1], triple[2] * page_size, names };
		names += len + 1;
	}
	*entries_ret = entries;
	return n;
}

static void parse_auxv(struct ai_core *core, const char *desc, size_t size)
{
	for (size_t off = 0; off + 16 <= size; off += 16) {
		uint64_t type, value;
		memcpy(&type, desc + off, 8);
		memcpy(&value, desc + off + 8, 8);
		if (type == AT_ENTRY)
			core->at_entry = value;
		else if (type == AT_SYSINFO_EHDR)
			core->at_sysinfo_ehdr = value;
	}
}

/* The GNU build-id of an ELF file and the address its note is loaded at (before load bias). */
static bool elf_build_id(Elf *elf, unsigned char *id, size_t *id_len, uint64_t *vaddr_ret)
{
	size_t phnum;
	if (elf_getphdrnum(elf, &phnum) != 0)
		return false;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr phdr;
		if (!gelf_getphdr(elf, (int)i, &phdr) || phdr.p_type != PT_NOTE)
			continue;
		Elf_Data *data = elf_getdata_rawchunk(elf, (int64_t)phdr.p_offset, phdr.p_filesz, ELF_T_NHDR);
		if (!data)
			continue;
		size_t offset = 0, name_off, desc_off;
		GElf_Nhdr nhdr;
		while ((offset = gelf_getnote(data, offset, &nhdr, &name_off, &desc_off)) > 0) {
			if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
			    memcmp((char *)data->d_buf + name_off, "GNU", 4) == 0 && nhdr.n_descsz <= 64) {
				memcpy(id, (char *)data->d_buf + desc_off, nhdr.n_descsz);
				*id_len = nhdr.n_descsz;
				*vaddr_ret = phdr.p_vaddr + desc_off;
				return true;
			}
		}
	}
	return false;
}

static struct ai_error *open_elf(const char *path, int *fd_ret, Elf **elf_ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ai_error_from_errno(errno, "cannot open %s", path);
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(fd);
		return ai_error_create(AI_ERROR_NOT_ELF, "%s is not an ELF file", path);
	}
	*fd_ret = fd;
	*elf_ret = elf;
	return NULL;
}

/* The executable matches the core when its entry point, moved by the load bias the core's mapping
 * implies, is the core's AT_ENTRY, and its build-id is the one in the core's memory (when the
 * core holds that page). */
static struct ai_error *check_exe_matches(struct ai_target *t, Elf *exe_elf, const char *exe_path,
					  uint64_t exe_start, bool have_exe_mapping)
{
	GElf_Ehdr ehdr;
	if (!gelf_getehdr(exe_elf, &ehdr))
		return ai_error_create(AI_ERROR_NOT_ELF, "%s is not a valid ELF file", exe_path);
	if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%s is not an executable", exe_path);
	uint64_t bias = 0;
	if (ehdr.e_type == ET_DYN) {
		if (!have_exe_mapping)
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
					       "core file %s does not map %s: it was not produced by that executable",
					       t->core_path, exe_path);
		/* The lowest PT_LOAD starts at the mapping of file offset 0. */
		uint64_t lowest = UINT64_MAX;
		size_t phnum;
		elf_getphdrnum(exe_elf, &phnum);
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr phdr;
			if (gelf_getphdr(exe_elf, (int)i, &phdr) && phdr.p_type == PT_LOAD)
				lowest = AI_MIN(lowest, phdr.p_vaddr & ~(uint64_t)0xfff);
		}
		bias = exe_start - lowest;
	}
	if (t->core->at_entry && ehdr.e_entry + bias != t->core->at_entry)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "core file %s does not match executable %s (entry points differ)",
				       t->core_path, exe_path);
	unsigned char file_id[64], core_id[64];
	size_t id_len;
	uint64_t id_vaddr;
	if (elf_build_id(exe_elf, file_id, &id_len, &id_vaddr)) {
		/* Only the core's own bytes count here, not the file we map in for missing pages. */
		for (size_t i = 0; i < t->core->region_count; i++) {
			const struct file_region *r = t->core->regions[i];
			uint64_t at = id_vaddr + bias;
			if (r->fd != t->core->core_fd || at < r->start || at + id_len > r->start + r->file_size)
				continue;
			if (pread(r->fd, core_id, id_len, (off_t)(r->file_offset + (at - r->start))) == (ssize_t)id_len &&
			    memcmp(core_id, file_id, id_len) != 0)
				return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
						       "core file %s does not match executable %s (build-ids differ)",
						       t->core_path, exe_path);
		}
	}
	return NULL;
}

static const char *perms_of(uint32_t flags)
{
	static const char *table[8] = { "---p", "--xp", "-w-p", "-wxp", "r--p", "r-xp", "rw-p", "rwxp" };
	return table[((flags & PF_R) ? 4 : 0) | ((flags & PF_W) ? 2 : 0) | ((flags & PF_X) ? 1 : 0)];
}

/* A file the core says was mapped, or -1. Its path comes from the core: a FIFO or a device there
 * would block open() or read() (a hang, not an error), so only regular files are read. */
static int open_mapped_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The permissions of the segment of an ELF file that starts at file offset `offset`. */
static const char *file_perms(const char *path, const char *recorded_exe,
			      Elf *exe_elf, uint64_t offset)
{
	Elf *elf = exe_elf;
	int fd = -1;
	if (!recorded_exe || strcmp(path, recorded_exe) != 0) {
		fd = open_mapped_file(path);
		elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	}
	const char *perms = "r--p";
	size_t phnum;
	if (elf && elf_getphdrnum(elf, &phnum) == 0) {
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr phdr;
			if (gelf_getphdr(elf, (int)i, &phdr) && phdr.p_type == PT_LOAD &&
			    (phdr.p_offset & ~(uint64_t)0xfff) == offset)
				perms = perms_of(phdr.p_flags);
		}
	}
	if (elf && elf != exe_elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return perms;
}

/* What the program headers say the core holds, against what the file holds: a core cut short (a
 * full disk, a core size limit, a copy interrupted) is said to be truncated, with the sizes and
 * how much of its memory survives, rather than failing later for want of what was cut. */
struct core_layout {
	uint64_t file_size;     /* of the file on disk */
	uint64_t expected_size; /* the end of the furthest segment (or of the headers) */
	char summary[256];      /* the sizes and what survives, for messages */
};

static struct ai_error *read_layout(struct ai_core *core, const char *core_path, const GElf_Ehdr *ehdr,
				    size_t *phnum_ret, struct core_layout *layout)
{
	struct stat st;
	if (fstat(core->core_fd, &st) < 0)
		return ai_error_from_errno(errno, "cannot stat %s", core_path);
	layout->file_size = (uint64_t)st.st_size;
	uint64_t headers_end = ehdr->e_phoff + (uint64_t)ehdr->e_phnum * ehdr->e_phentsize;
	size_t phnum;
	if (headers_end > layout->file_size || elf_getphdrnum(core->elf, &phnum) != 0) {
		if (headers_end > layout->file_size)
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
					       "core file %s is truncated: it has %" PRIu64 " bytes, too few for its own program headers (%" PRIu64 " bytes); nothing can be read from it",
					       core_path, layout->file_size, headers_end);
		return ai_error_create(AI_ERROR_NOT_ELF, "%s: cannot read program headers", core_path);
	}
	layout->expected_size = headers_end;
	uint64_t load_bytes = 0, kept_bytes = 0;
	size_t loads = 0, whole = 0;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr phdr;
		if (!gelf_getphdr(core->elf, (int)i, &phdr))
			continue;
		uint64_t end = phdr.p_offset + phdr.p_filesz;
		layout->expected_size = AI_MAX(layout->expected_size, end);
		if (phdr.p_type != PT_LOAD || phdr.p_filesz == 0)
			continue;
		loads++;
		load_bytes += phdr.p_filesz;
		if (end <= layout->file_size)
			whole++;
		if (phdr.p_offset < layout->file_size)
			kept_bytes += AI_MIN(end, layout->file_size) - phdr.p_offset;
	}
	snprintf(layout->summary, sizeof(layout->summary),
		 "its program headers describe %" PRIu64 " bytes but the file has %" PRIu64 " (%" PRIu64 "%%); %zu of its %zu memory segments are whole (%.1f of %.1f MiB of memory kept)",
		 layout->expected_size, layout->file_size,
		 layout->expected_size ? layout->file_size * 100 / layout->expected_size : 0, whole, loads,
		 (double)kept_bytes / (1 << 20), (double)load_bytes / (1 << 20));
	*phnum_ret = phnum;
	return NULL;
}

struct ai_error *ai_target_open_core(const char *core_path, const char *exe_path, struct ai_target **ret)
{
	elf_version(EV_CURRENT);
	struct ai_target *t = xcalloc(1, sizeof(*t));
	t->kind = AI_TARGET_CORE;
	t->core_path = xstrdup(core_path);
	/* Absolute, as a live process's maps would name it. */
	char *absolute_exe = realpath(exe_path, NULL);
	t->exe_path = absolute_exe ? absolute_exe : xstrdup(exe_path);
	t->is_stopped = true;
	t->memory = ai_memory_create();
	ai_maps_init(&t->maps);
	t->core = xcalloc(1, sizeof(*t->core));
	t->core->core_fd = -1;
	struct ai_core *core = t->core;
	struct nt_file_entry *files = NULL;
	size_t file_count = 0;
	Elf *exe_elf = NULL;
	int exe_fd = -1;

	struct ai_error *err = open_elf(core_path, &core->core_fd, &core->elf);
	if (err)
		goto fail;
	keep_fd(core, core->core_fd);
	GElf_Ehdr ehdr;
	if (!gelf_getehdr(core->elf, &ehdr) || ehdr.e_type != ET_CORE) {
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%s is not a core file", core_path);
		goto fail;
	}
	err = open_elf(exe_path, &exe_fd, &exe_elf);
	if (err)
		goto fail;
	keep_fd(core, exe_fd);

	size_t phnum = 0;
	struct core_layout layout;
	err = read_layout(core, core_path, &ehdr, &phnum, &layout);
	if (err)
		goto fail;
	/* Notes first: threads, mapped files, auxiliary vector. */
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr phdr;
		if (!gelf_getphdr(core->elf, (int)i, &phdr) || phdr.p_type != PT_NOTE ||
		    phdr.p_offset >= layout.file_size)
			continue;
		/* Of a truncated core, the notes that are whole (gelf_getnote stops at a cut one). */
		uint64_t size = AI_MIN(phdr.p_filesz, layout.file_size - phdr.p_offset);
		Elf_Data *data = elf_getdata_rawchunk(core->elf, (int64_t)phdr.p_offset, size, ELF_T_NHDR);
		if (!data)
			continue;
		size_t offset = 0, name_off, desc_off;
		GElf_Nhdr nhdr;
		while ((offset = gelf_getnote(data, offset, &nhdr, &name_off, &desc_off)) > 0) {
			const char *desc = (const char *)data->d_buf + desc_off;
			if (nhdr.n_type == NT_PRSTATUS) {
				parse_prstatus(t, desc, nhdr.n_descsz);
			} else if (nhdr.n_type == NT_PRPSINFO && nhdr.n_descsz >= sizeof(struct elf_prpsinfo)) {
				struct elf_prpsinfo info;
				memcpy(&info, desc, sizeof(info));
				snprintf(core->exe_name, sizeof(core->exe_name), "%.16s", info.pr_fname);
			} else if (nhdr.n_type == NT_FILE && !files) {
				file_count = parse_nt_file(desc, nhdr.n_descsz, &files);
			} else if (nhdr.n_type == NT_AUXV) {
				parse_auxv(core, desc, nhdr.n_descsz);
			}
		}
	}
	if (t->thread_count == 0) {
		if (layout.file_size < layout.expected_size)
			err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
					      "core file %s is truncated: %s; its notes (threads, registers, mapped files) are past the end, so there is no thread to show",
					      core_path, layout.summary);
		else
			err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "core file %s has no threads (no NT_PRSTATUS notes)",
					      core_path);
		goto fail;
	}
	if (layout.file_size < layout.expected_size)
		t->warning = xasprintf("core file %s is truncated: %s; memory past the end reads as unreadable, what follows is what could still be read",
				       core_path, layout.summary);

	/* The executable's own mappings: the NT_FILE path that holds the entry point. */
	const char *recorded_exe = NULL;
	for (size_t i = 0; i < file_count; i++) {
		if (core->at_entry >= files[i].start && core->at_entry < files[i].end)
			recorded_exe = files[i].path;
	}
	uint64_t exe_start = 0;
	bool have_exe_mapping = false;
	/* Mapped files, lowest priority: the core's own bytes override them below. */
	for (size_t i = 0; i < file_count; i++) {
		bool is_exe = recorded_exe && strcmp(files[i].path, recorded_exe) == 0;
		if (is_exe && files[i].offset == 0 && !have_exe_mapping) {
			exe_start = files[i].start;
			have_exe_mapping = true;
		}
		int fd = is_exe ? exe_fd : open_mapped_file(files[i].path);
		if (fd < 0)
			continue; /* that file is gone: its pages read as unreadable unless the core has them */
		if (!is_exe)
			keep_fd(core, fd);
		struct stat st;
		uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
		add_region(t, fd, files[i].start, files[i].end, files[i].offset, size, false);
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr phdr;
		if (!gelf_getphdr(core->elf, (int)i, &phdr) || phdr.p_type != PT_LOAD)
			continue;
		if (phdr.p_filesz > 0 && phdr.p_offset < layout.file_size) {
			uint64_t end = phdr.p_offset + phdr.p_filesz;
			add_region(t, core->core_fd, phdr.p_vaddr, phdr.p_vaddr + phdr.p_filesz, phdr.p_offset,
				   AI_MIN(end, layout.file_size), end > layout.file_size);
		}
		/* Anonymous memory (heap, stacks, the vDSO): file-backed ranges come from NT_FILE. */
		bool file_backed = false;
		for (size_t j = 0; j < file_count; j++)
			file_backed |= phdr.p_vaddr >= files[j].start && phdr.p_vaddr < files[j].end;
		if (!file_backed)
			ai_maps_add(&t->maps, phdr.p_vaddr, phdr.p_vaddr + phdr.p_memsz, 0, perms_of(phdr.p_flags),
				    core->at_sysinfo_ehdr == phdr.p_vaddr ? "[vdso]" : NULL);
	}
	/* Every mapped file, whether or not the core holds its pages: code and unwind tables of the
	 * executable and libraries are read from the files. Permissions come from the core's PT_LOAD
	 * over the same range, or else (a core that left the range out) from the file's own. */
	for (size_t i = 0; i < file_count; i++) {
		const char *perms = file_perms(files[i].path, recorded_exe, exe_elf, files[i].offset);
		for (size_t j = 0; j < phnum; j++) {
			GElf_Phdr phdr;
			if (gelf_getphdr(core->elf, (int)j, &phdr) && phdr.p_type == PT_LOAD &&
			    phdr.p_vaddr == files[i].start)
				perms = perms_of(phdr.p_flags);
		}
		bool is_exe = recorded_exe && strcmp(files[i].path, recorded_exe) == 0;
		ai_maps_add(&t->maps, files[i].start, files[i].end, files[i].offset, perms,
			    is_exe ? t->exe_path : files[i].path);
	}
	ai_maps_sort(&t->maps);

	err = check_exe_matches(t, exe_elf, exe_path, exe_start, have_exe_mapping);
	if (err)
		goto fail;
	if (core->exe_name[0])
		snprintf(t->threads[0].name, sizeof(t->threads[0].name), "%s", core->exe_name);
	free(files);
	elf_end(exe_elf);
	*ret = t;
	return NULL;

fail:
	free(files);
	if (exe_elf)
		elf_end(exe_elf);
	ai_target_destroy(t);
	return err;
}
