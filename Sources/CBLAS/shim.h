#include <cblas.h>
// OpenBLAS extension: the thread pool size (the default is one thread per core).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
