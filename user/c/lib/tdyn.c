/*
 * libtdyn.so: the shared library t_dynamic links against (DT_NEEDED). A
 * function, an initialised variable (a data relocation the loader applies)
 * and a constructor that runs before main.
 */
int tdyn_counter = 40;
int tdyn_ctor_ran;

__attribute__((constructor)) static void tdyn_init(void)
{
	tdyn_ctor_ran = 1;
}

int tdyn_add(int a, int b)
{
	return a + b + tdyn_counter - 40;
}
