/*
 * hello.c: the smallest C program: musl's startup, printf and exit.
 * Prints its pid and every argument, exits 0. Built twice: as `hello`
 * (static, ET_EXEC) and as `hello-pie` (static-pie, ET_DYN, relocated by
 * musl's rcrt1 start code), which exercises the kernel's ET_DYN loading
 * path and the auxv entries rcrt1 needs (AT_PHDR, AT_PHENT, AT_PHNUM).
 */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	printf("hello from C (pid %d)\n", (int)getpid());
	for (int i = 0; i < argc; i++)
		printf("argv[%d] = %s\n", i, argv[i]);
	return 0;
}
