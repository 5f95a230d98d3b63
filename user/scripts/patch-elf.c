/*
 * patch-elf.c: make a hostile copy of an ELF64 executable for t_uaccess
 * (built and run on the build host by user/Makefile).
 *
 *   patch-elf IN OUT entry VALUE       e_entry = VALUE
 *   patch-elf IN OUT phnum VALUE       e_phnum = VALUE
 *   patch-elf IN OUT last-load VALUE   the last PT_LOAD's p_vaddr (and
 *                                      p_paddr) = VALUE + (p_vaddr % 4096),
 *                                      so its alignment stays valid
 *   patch-elf IN OUT truncate VALUE    keep the first VALUE bytes
 *
 * OUT gets mode 0755. Exit status 1 with a message on any error.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void die(const char *what)
{
	fprintf(stderr, "patch-elf: %s\n", what);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 5)
		die("usage: patch-elf IN OUT entry|phnum|last-load|truncate VALUE");
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		die("cannot open input");
	static unsigned char buf[1 << 22];
	size_t len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	if (len < sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG) != 0)
		die("input is not an ELF file");
	unsigned long long v = strtoull(argv[4], NULL, 0);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	if (!strcmp(argv[3], "entry")) {
		eh->e_entry = v;
	} else if (!strcmp(argv[3], "phnum")) {
		eh->e_phnum = (Elf64_Half)v;
	} else if (!strcmp(argv[3], "truncate")) {
		if (v < len)
			len = v;
	} else if (!strcmp(argv[3], "last-load")) {
		Elf64_Phdr *last = NULL;
		for (int i = 0; i < eh->e_phnum; i++) {
			Elf64_Phdr *ph = (Elf64_Phdr *)(buf + eh->e_phoff + (size_t)i * eh->e_phentsize);
			if ((unsigned char *)(ph + 1) > buf + len)
				die("program headers outside the file");
			if (ph->p_type == PT_LOAD)
				last = ph;
		}
		if (!last)
			die("no PT_LOAD");
		last->p_vaddr = last->p_paddr = v + (last->p_vaddr % 4096);
	} else {
		die("unknown field");
	}
	FILE *o = fopen(argv[2], "wb");
	if (!o || fwrite(buf, 1, len, o) != len || fclose(o) != 0)
		die("cannot write output");
	chmod(argv[2], 0755);
	return 0;
}
