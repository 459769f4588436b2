/*
 * priv.h - dropping privileges, the same way in every child.
 */
#ifndef PETREL_PRIV_H
#define PETREL_PRIV_H

#include <sys/types.h>

int	priv_lookup(const char *user, uid_t *, gid_t *);
void	priv_drop(const char *proc, int privsep, const char *user,
	    const char *chroot_dir);

#endif
