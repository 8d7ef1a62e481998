/* The one error convention of async-inspect (after drgn's).
 *
 * Every function that can fail returns `struct ai_error *`: NULL on success, otherwise an error the
 * caller owns and must pass on or free with ai_error_destroy(). Results go in trailing `*_ret`
 * out-parameters, written only on success. Errors of libraries (libelf, libunwind, libzstd) are
 * converted at the boundary of the module that calls them and never leak upward. */
#ifndef AI_ERROR_H
#define AI_ERROR_H

#include <stdint.h>
#include <stdio.h>

enum ai_error_code {
	AI_ERROR_OTHER,
	AI_ERROR_OS,               /* a system call failed: see errnum */
	AI_ERROR_FAULT,            /* target memory could not be read: see address */
	AI_ERROR_INVALID_ARGUMENT, /* the user's input is wrong */
	AI_ERROR_NOT_FOUND,        /* a file, process, symbol or DIE that does not exist */
	AI_ERROR_NOT_ELF,          /* a file that is not ELF, or a corrupt one */
	AI_ERROR_NO_DEBUGINFO,     /* a binary without the DWARF we need */
	AI_ERROR_PERMISSION,       /* may not trace or read */
	AI_ERROR_TARGET_EXITED,    /* the target (or a thread) went away under us */
	AI_ERROR_DWARF,            /* DWARF we do not understand */
	AI_ERROR_UNSUPPORTED,      /* a layout or feature we do not handle (the message names it) */
};

struct ai_error {
	enum ai_error_code code;
	int errnum;       /* AI_ERROR_OS: the errno; 0 otherwise */
	uint64_t address; /* AI_ERROR_FAULT: the first address that could not be read */
	char *message;    /* one line, no trailing newline or period */
};

struct ai_error *ai_error_create(enum ai_error_code code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "<formatted message>: <strerror(errnum)>" with code AI_ERROR_OS (or AI_ERROR_PERMISSION for
 * EPERM/EACCES, AI_ERROR_NOT_FOUND for ENOENT/ESRCH). */
struct ai_error *ai_error_from_errno(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct ai_error *ai_error_fault(uint64_t address, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prefixes the message with "<formatted context>: " and returns err, for passing an error upward. */
struct ai_error *ai_error_wrap(struct ai_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ai_error_destroy(struct ai_error *err);

/* Prints "async-inspect: <message>" and a newline to `file`. */
void ai_error_print(const struct ai_error *err, FILE *file);

#endif
