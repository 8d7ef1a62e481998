#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ai/error.h"
#include "ai/util.h"

static char *vformat(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	return s;
}

static struct ai_error *error_new(enum ai_error_code code, int errnum, uint64_t address, char *message)
{
	struct ai_error *err = xmalloc(sizeof(*err));
	err->code = code;
	err->errnum = errnum;
	err->address = address;
	err->message = message;
	return err;
}

struct ai_error *ai_error_create(enum ai_error_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *message = vformat(fmt, ap);
	va_end(ap);
	return error_new(code, 0, 0, message);
}

struct ai_error *ai_error_from_errno(int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *context = vformat(fmt, ap);
	va_end(ap);
	char *message = xasprintf("%s: %s", context, strerror(errnum));
	free(context);
	enum ai_error_code code = AI_ERROR_OS;
	if (errnum == EPERM || errnum == EACCES)
		code = AI_ERROR_PERMISSION;
	else if (errnum == ENOENT || errnum == ESRCH)
		code = AI_ERROR_NOT_FOUND;
	return error_new(code, errnum, 0, message);
}

struct ai_error *ai_error_fault(uint64_t address, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *message = vformat(fmt, ap);
	va_end(ap);
	return error_new(AI_ERROR_FAULT, 0, address, message);
}

struct ai_error *ai_error_wrap(struct ai_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *context = vformat(fmt, ap);
	va_end(ap);
	char *message = xasprintf("%s: %s", context, err->message);
	free(context);
	free(err->message);
	err->message = message;
	return err;
}

void ai_error_destroy(struct ai_error *err)
{
	if (!err)
		return;
	free(err->message);
	free(err);
}

void ai_error_print(const struct ai_error *err, FILE *file)
{
	fprintf(file, "async-inspect: %s\n", err->message);
}
