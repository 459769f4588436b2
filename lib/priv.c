/*
 * priv.c - chroot, then setgroups/setresgid/setresuid to the process's
 * own user, then check that no way back is left.
 *
 * With privsep = no, or when not started as root, nothing is dropped:
 * the process says so once and carries on as the invoking user.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

int
priv_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

void
priv_drop(const char *proc, int privsep, const char *user,
    const char *chroot_dir)
{
	uid_t	 uid, ruid, euid, suid;
	gid_t	 gid, rgid, egid, sgid;

	if (!privsep || geteuid() != 0) {
		log_debug("%s: running as uid %d without privilege separation",
		    proc, (int)getuid());
		return;
	}
	if (priv_lookup(user, &uid, &gid) == -1)
		fatalx("%s: unknown user %s (create it or set privsep = no)",
		    proc, user);
	if (uid == 0)
		fatalx("%s: user %s is root; refusing", proc, user);
	if (chroot_dir != NULL && *chroot_dir != '\0') {
		if (chroot(chroot_dir) == -1)
			fatal("%s: chroot %s", proc, chroot_dir);
		if (chdir("/") == -1)
			fatal("%s: chdir /", proc);
	}
	if (setgroups(1, &gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		fatal("%s: cannot drop privileges to %s", proc, user);
	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1)
		fatal("%s: getresuid", proc);
	if (ruid != uid || euid != uid || suid != uid ||
	    rgid != gid || egid != gid || sgid != gid)
		fatalx("%s: privileges were not dropped", proc);
	if (setuid(0) != -1)
		fatalx("%s: could regain root after dropping privileges", proc);
	log_debug("%s: running as %s%s%s", proc, user,
	    chroot_dir && *chroot_dir ? ", chroot " : "",
	    chroot_dir ? chroot_dir : "");
}
