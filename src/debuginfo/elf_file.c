#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/demangle.h"
#include "ai/elf_file.h"
#include "ai/util.h"

static void elf_library_init(void)
{
	static bool done;
	if (!done) {
		elf_version(EV_CURRENT);
		done = true;
	}
}

static void read_build_id(struct ai_elf_file *file)
{
	for (size_t i = 0; i < file->phnum && !file->build_id_len; i++) {
		const GElf_Phdr *ph = &file->phdrs[i];
		if (ph->p_type != PT_NOTE)
			continue;
		Elf_Data *data = elf_getdata_rawchunk(file->elf, (int64_t)ph->p_offset, ph->p_filesz,
						      ELF_T_NHDR);
		if (!data)
			continue;
		size_t offset = 0, name_offset, desc_offset;
		GElf_Nhdr nhdr;
		while (offset < data->d_size &&
		       (offset = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset)) > 0) {
			if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
			    memcmp((char *)data->d_buf + name_offset, "GNU", 4) == 0 &&
			    nhdr.n_descsz > 0 && nhdr.n_descsz <= sizeof(file->build_id)) {
				memcpy(file->build_id, (char *)data->d_buf + desc_offset, nhdr.n_descsz);
				file->build_id_len = nhdr.n_descsz;
				break;
			}
		}
	}
}

static void scan_sections(struct ai_elf_file *file)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(file->elf, &shstrndx) != 0)
		return;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(file->elf, scn))) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr))
			continue;
		const char *name = elf_strptr(file->elf, shstrndx, shdr.sh_name);
		if (!name)
			continue;
		if ((strcmp(name, ".debug_info") == 0 || strcmp(name, ".zdebug_info") == 0) &&
		    shdr.sh_type != SHT_NOBITS && shdr.sh_size > 0)
			file->has_debug_info = true;
		else if (shdr.sh_type == SHT_SYMTAB)
			file->has_symtab = true;
		else if (shdr.sh_type == SHT_DYNSYM)
			file->has_dynsym = true;
		else if (strcmp(name, ".eh_frame_hdr") == 0 && !file->has_eh_frame_hdr &&
			 shdr.sh_type != SHT_NOBITS) {
			file->has_eh_frame_hdr = true;
			file->eh_frame_hdr_vaddr = shdr.sh_addr;
			file->eh_frame_hdr_size = shdr.sh_size;
		}
	}
}

static struct ai_error *finish_open(struct ai_elf_file *file)
{
	if (elf_kind(file->elf) != ELF_K_ELF || !gelf_getehdr(file->elf, &file->ehdr))
		return ai_error_create(AI_ERROR_NOT_ELF, "%s is not an ELF file", file->path);
	size_t phnum;
	if (elf_getphdrnum(file->elf, &phnum) != 0)
		return ai_error_create(AI_ERROR_NOT_ELF, "%s: corrupt ELF program headers: %s",
				       file->path, elf_errmsg(-1));
	file->phdrs = xcalloc(phnum, sizeof(*file->phdrs));
	file->phnum = phnum;
	file->load_start = file->text_start = UINT64_MAX;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr *ph = &file->phdrs[i];
		if (!gelf_getphdr(file->elf, (int)i, ph))
			return ai_error_create(AI_ERROR_NOT_ELF, "%s: corrupt ELF program header %zu",
					       file->path, i);
		if (ph->p_type == PT_LOAD) {
			file->load_start = AI_MIN(file->load_start, ph->p_vaddr);
			file->load_end = AI_MAX(file->load_end, ph->p_vaddr + ph->p_memsz);
			if (ph->p_flags & PF_X) {
				file->text_start = AI_MIN(file->text_start, ph->p_vaddr);
				file->text_end = AI_MAX(file->text_end, ph->p_vaddr + ph->p_memsz);
			}
		} else if (ph->p_type == PT_GNU_EH_FRAME) {
			file->has_eh_frame_hdr = true;
			file->eh_frame_hdr_vaddr = ph->p_vaddr;
			file->eh_frame_hdr_size = ph->p_memsz;
		}
	}
	if (file->load_start == UINT64_MAX)
		file->load_start = 0;
	if (file->text_start == UINT64_MAX)
		file->text_start = 0;
	read_build_id(file);
	scan_sections(file);
	return NULL;
}

struct ai_error *ai_elf_file_open(const char *path, struct ai_elf_file **ret)
{
	elf_library_init();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ai_error_from_errno(errno, "%s", path);
	struct ai_elf_file *file = xcalloc(1, sizeof(*file));
	file->path = xstrdup(path);
	file->fd = fd;
	file->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	struct ai_error *err;
	if (!file->elf)
		err = ai_error_create(AI_ERROR_NOT_ELF, "%s is not an ELF file", path);
	else
		err = finish_open(file);
	if (err) {
		ai_elf_file_destroy(file);
		return err;
	}
	*ret = file;
	return NULL;
}

struct ai_error *ai_elf_file_open_image(const char *name, const void *image, size_t size,
					struct ai_elf_file **ret)
{
	elf_library_init();
	struct ai_elf_file *file = xcalloc(1, sizeof(*file));
	file->path = xstrdup(name);
	file->fd = -1;
	file->image = xmalloc(size);
	memcpy(file->image, image, size);
	file->elf = elf_memory(file->image, size);
	struct ai_error *err;
	if (!file->elf)
		err = ai_error_create(AI_ERROR_NOT_ELF, "%s is not an ELF file", name);
	else
		err = finish_open(file);
	if (err) {
		ai_elf_file_destroy(file);
		return err;
	}
	*ret = file;
	return NULL;
}

void ai_elf_file_destroy(struct ai_elf_file *file)
{
	if (!file)
		return;
	for (size_t i = 0; i < file->symbol_count; i++)
		free(file->symbols[i].demangled);
	free(file->symbols);
	free(file->phdrs);
	if (file->elf)
		elf_end(file->elf);
	if (file->fd >= 0)
		close(file->fd);
	free(file->image);
	free(file->path);
	free(file);
}

const GElf_Phdr *ai_elf_file_segment_for_offset(const struct ai_elf_file *file, uint64_t offset)
{
	const uint64_t page = 4096;
	/* A mapping starts at the page holding p_offset: match that exactly first, since the last page
	 * of one segment's file range can hold the start of the next one. */
	for (size_t i = 0; i < file->phnum; i++) {
		const GElf_Phdr *ph = &file->phdrs[i];
		if (ph->p_type == PT_LOAD && (ph->p_offset & ~(page - 1)) == offset)
			return ph;
	}
	for (size_t i = 0; i < file->phnum; i++) {
		const GElf_Phdr *ph = &file->phdrs[i];
		if (ph->p_type == PT_LOAD && offset >= (ph->p_offset & ~(page - 1)) &&
		    offset < ph->p_offset + ph->p_filesz)
			return ph;
	}
	return NULL;
}

struct ai_error *ai_elf_file_load_bias(const struct ai_elf_file *file, uint64_t start,
				       uint64_t offset, uint64_t *bias_ret)
{
	const GElf_Phdr *ph = ai_elf_file_segment_for_offset(file, offset);
	if (!ph)
		return ai_error_create(AI_ERROR_NOT_FOUND,
				       "%s: no loadable segment at file offset 0x%" PRIx64, file->path,
				       offset);
	/* File offset X is mapped at start + (X - offset) and has vaddr p_vaddr + (X - p_offset). */
	*bias_ret = start - offset - ph->p_vaddr + ph->p_offset;
	return NULL;
}

bool ai_elf_file_section(const struct ai_elf_file *file, const char *name, uint64_t *addr_ret,
			 uint64_t *size_ret)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(file->elf, &shstrndx) != 0)
		return false;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(file->elf, scn))) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr))
			continue;
		const char *n = elf_strptr(file->elf, shstrndx, shdr.sh_name);
		if (n && strcmp(n, name) == 0) {
			if (addr_ret)
				*addr_ret = shdr.sh_addr;
			if (size_ret)
				*size_ret = shdr.sh_size;
			return true;
		}
	}
	return false;
}

bool ai_elf_file_debuglink(const struct ai_elf_file *file, const char **name_ret,
			   uint32_t *crc_ret)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(file->elf, &shstrndx) != 0)
		return false;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(file->elf, scn))) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type == SHT_NOBITS)
			continue;
		const char *n = elf_strptr(file->elf, shstrndx, shdr.sh_name);
		if (!n || strcmp(n, ".gnu_debuglink") != 0)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf || data->d_size < 8)
			return false;
		/* The name, NUL-terminated and padded to 4 bytes, then the CRC-32. */
		const char *name = data->d_buf;
		size_t len = strnlen(name, data->d_size);
		size_t crc_offset = (len + 4) & ~(size_t)3;
		if (len == 0 || len == data->d_size || crc_offset + 4 > data->d_size ||
		    strchr(name, '/'))
			return false;
		uint32_t crc;
		memcpy(&crc, (const char *)data->d_buf + crc_offset, 4);
		*name_ret = name;
		*crc_ret = crc;
		return true;
	}
	return false;
}

struct ai_error *ai_elf_file_read(const struct ai_elf_file *file, uint64_t vaddr, void *buf,
				  size_t size)
{
	size_t raw_size;
	const char *raw = elf_rawfile(file->elf, &raw_size);
	for (size_t i = 0; raw && i < file->phnum; i++) {
		const GElf_Phdr *ph = &file->phdrs[i];
		if (ph->p_type != PT_LOAD || vaddr < ph->p_vaddr ||
		    vaddr - ph->p_vaddr >= ph->p_filesz || size > ph->p_filesz - (vaddr - ph->p_vaddr))
			continue;
		uint64_t offset = ph->p_offset + (vaddr - ph->p_vaddr);
		if (offset > raw_size || size > raw_size - offset)
			break;
		memcpy(buf, raw + offset, size);
		return NULL;
	}
	return ai_error_fault(vaddr, "%s: cannot read %zu bytes at vaddr 0x%" PRIx64, file->path,
			      size, vaddr);
}

/* ---- symbols ---- */

static int symbol_rank(unsigned char bind)
{
	switch (bind) {
	case STB_GLOBAL: return 0;
	case STB_WEAK: return 1;
	default: return 2;
	}
}

struct raw_symbol {
	struct ai_elf_symbol sym;
	int rank;
};

static int compare_raw_symbols(const void *a, const void *b)
{
	const struct raw_symbol *x = a, *y = b;
	if (x->sym.address != y->sym.address)
		return x->sym.address < y->sym.address ? -1 : 1;
	/* at one address: sized before unsized, then global before weak before local */
	if ((x->sym.size == 0) != (y->sym.size == 0))
		return x->sym.size == 0 ? 1 : -1;
	return x->rank - y->rank;
}

static void load_symbols(struct ai_elf_file *file)
{
	file->symbols_loaded = true;
	Elf64_Word want = file->has_symtab ? SHT_SYMTAB : SHT_DYNSYM;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(file->elf, scn))) {
		GElf_Shdr shdr;
		if (gelf_getshdr(scn, &shdr) && shdr.sh_type == want)
			break;
	}
	if (!scn)
		return;
	GElf_Shdr shdr;
	gelf_getshdr(scn, &shdr);
	Elf_Data *data = elf_getdata(scn, NULL);
	if (!data || !shdr.sh_entsize)
		return;
	size_t count = shdr.sh_size / shdr.sh_entsize;
	struct raw_symbol *raw = xmalloc(AI_MAX(count, 1) * sizeof(*raw));
	size_t n = 0;
	/* Section index -> executable? Cached for the few sections symbols point into. */
	size_t shnum = 0;
	elf_getshdrnum(file->elf, &shnum);
	signed char *exec = xcalloc(AI_MAX(shnum, 1), 1);
	for (size_t i = 0; i < count; i++) {
		GElf_Sym sym;
		if (!gelf_getsym(data, (int)i, &sym))
			continue;
		int type = GELF_ST_TYPE(sym.st_info);
		if (sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE || sym.st_value == 0)
			continue;
		if (type == STT_NOTYPE) {
			/* Assembler labels: keep those in executable sections. */
			if (sym.st_shndx >= shnum)
				continue;
			if (!exec[sym.st_shndx]) {
				GElf_Shdr s;
				Elf_Scn *sec = elf_getscn(file->elf, sym.st_shndx);
				exec[sym.st_shndx] =
					(sec && gelf_getshdr(sec, &s) && (s.sh_flags & SHF_EXECINSTR)) ? 1 : -1;
			}
			if (exec[sym.st_shndx] < 0)
				continue;
		} else if (type != STT_FUNC && type != STT_GNU_IFUNC) {
			continue;
		}
		const char *name = elf_strptr(file->elf, shdr.sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		raw[n].sym = (struct ai_elf_symbol){ .address = sym.st_value, .size = sym.st_size,
						     .name = name };
		raw[n].rank = symbol_rank(GELF_ST_BIND(sym.st_info));
		n++;
	}
	free(exec);
	qsort(raw, n, sizeof(*raw), compare_raw_symbols);
	file->symbols = xmalloc(AI_MAX(n, 1) * sizeof(*file->symbols));
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out && file->symbols[out - 1].address == raw[i].sym.address)
			continue; /* the best one at this address came first */
		file->symbols[out++] = raw[i].sym;
	}
	file->symbol_count = out;
	free(raw);
}

struct ai_elf_symbol *ai_elf_file_find_symbol(struct ai_elf_file *file, uint64_t vaddr)
{
	if (!file->symbols_loaded)
		load_symbols(file);
	size_t lo = 0, hi = file->symbol_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (file->symbols[mid].address <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	struct ai_elf_symbol *sym = &file->symbols[lo - 1];
	if (sym->size) {
		if (vaddr - sym->address < sym->size)
			return sym;
		return NULL;
	}
	/* Unsized (an assembler label): accept within the executable segment it is in. */
	if (vaddr >= file->text_start && vaddr < file->text_end && sym->address >= file->text_start)
		return sym;
	return NULL;
}

struct ai_elf_symbol *ai_elf_file_find_symbol_by_name(struct ai_elf_file *file, const char *name)
{
	if (!file->symbols_loaded)
		load_symbols(file);
	for (size_t i = 0; i < file->symbol_count; i++) {
		if (strcmp(file->symbols[i].name, name) == 0)
			return &file->symbols[i];
	}
	for (size_t i = 0; i < file->symbol_count; i++) {
		if (strcmp(ai_elf_symbol_name(&file->symbols[i]), name) == 0)
			return &file->symbols[i];
	}
	return NULL;
}

const char *ai_elf_symbol_name(struct ai_elf_symbol *symbol)
{
	if (!symbol->demangle_tried) {
		symbol->demangle_tried = true;
		symbol->demangled = ai_demangle(symbol->name);
	}
	return symbol->demangled ? symbol->demangled : symbol->name;
}

void ai_elf_file_build_id_hex(const struct ai_elf_file *file, char *buf, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;
	for (size_t i = 0; i < file->build_id_len && n + 2 < size; i++) {
		buf[n++] = digits[file->build_id[i] >> 4];
		buf[n++] = digits[file->build_id[i] & 0xf];
	}
	if (size)
		buf[n] = '\0';
}

bool ai_elf_file_each_symbol(const struct ai_elf_file *file, bool dynamic, ai_elf_symbol_fn *fn, void *arg)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(file->elf, scn))) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr) || (shdr.sh_type != SHT_SYMTAB && (!dynamic || shdr.sh_type != SHT_DYNSYM)) ||
		    !shdr.sh_entsize)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		size_t count = data ? shdr.sh_size / shdr.sh_entsize : 0;
		for (size_t i = 0; i < count; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			const char *name = elf_strptr(file->elf, shdr.sh_link, sym.st_name);
			if (name && !fn(arg, &sym, name))
				return false;
		}
	}
	return true;
}
