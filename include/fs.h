/*
 * fs: the FUSE layer. Maps paths to nodes and nodes to the store, the
 * scheduler and the views; nothing else.
 *
 *	struct pai_fs *fs;
 *	if (pai_fs_mount(&fs, pai, "/mnt/pai", "allow_other", err, sizeof(err)))
 *		die("%s", err);
 *	pai_fs_loop(fs);		// until unmounted or signalled
 *	pai_fs_free(fs);
 */
#ifndef PAI_FS_H
#define PAI_FS_H

#include <stddef.h>

struct pai;
struct pai_fs;

/* fuse_opts: libfuse's own -o options, comma-separated, or NULL. */
int pai_fs_mount(struct pai_fs **out, struct pai *p, const char *mountpoint,
		 const char *fuse_opts, char *err, size_t errlen);
int pai_fs_loop(struct pai_fs *fs);
/* Unmount (if still mounted) and free. */
void pai_fs_free(struct pai_fs *fs);

#endif
