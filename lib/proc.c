/*
 * proc.c - what every child does first after petreld exec'd it.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

void
proc_child_init(struct proc_args *pa, const char *title)
{
	log_setproc(pa->name);
	setproctitle("%s", title);
}
