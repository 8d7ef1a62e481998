/* Declarative runtimes: a runtime adapter described by a data file (docs/decoders/runtime.md).
 * load.c reads and checks the file; collect.c is the adapter every such file shares (detect and
 * collect read their decoder from ops->data). Everything in the target is found by the DWARF
 * names the file gives, never by offset. */
#ifndef AI_DECLARATIVE_H
#define AI_DECLARATIVE_H

#include "ai/runtime.h"

#define DECL_FORMAT "async-inspect-runtime"
#define DECL_VERSION 1

enum decl_container {
	DECL_VEC,   /* a std Vec<T> */
	DECL_SLICE, /* &[T], Box<[T]>: data_ptr and length */
	DECL_ARRAY, /* [T; N] */
	DECL_LIST,  /* a singly linked list: the head points to the first node, `next` to the next */
};

struct decl_state_value {
	char *key;    /* an enumerator's or variant's name, or an integer / bool in decimal */
	char *status; /* "scheduled", "running", "idle", "completed" ("done" in the file) */
};

struct decl_runtime {
	struct ai_runtime_ops ops; /* .name is `runtime`, .data this */
	char *file;                /* the decoder file, for messages */
	char *runtime;
	/* detect: one of symbol and type; crate (its source directory) for the version */
	char *detect_symbol, *detect_type, *crate;
	/* tasks: the static or the thread-local (one of them), the member path to the container
	 * (NULL: the static, or the thread-local's value, is it) */
	char *tasks_static, *tasks_thread_local;
	char *tasks_path;
	enum decl_container container;
	char *next;                /* DECL_LIST: the member path from a node to the next */
	char *element;             /* the member path from an element to the task, or NULL */
	/* per task: member paths, NULL when not given (future is required) */
	char *future, *id, *name, *state;
	struct decl_state_value *values;
	size_t value_count;
};

/* collect.c */
char *ai_decl_detect(const struct ai_runtime_ops *self, struct ai_async *as);
struct ai_error *ai_decl_collect(const struct ai_runtime_ops *self, struct ai_async *as,
				 const struct ai_stack *stacks, struct ai_snapshot *snapshot,
				 struct ai_snapshot_runtime *entry);

#endif
