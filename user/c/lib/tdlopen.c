/*
 * libtdlopen.so: the shared library t_dynamic loads with dlopen(3) and
 * looks up with dlsym(3). It calls back into libtdyn.so (already loaded) so
 * its own relocations against another library are resolved too.
 */
int tdyn_add(int a, int b);

int tdl_value = 7;

int tdl_mul_add(int a, int b)
{
	return tdyn_add(a * b, tdl_value);
}
