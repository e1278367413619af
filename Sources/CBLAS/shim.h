#include <cblas.h>
// OpenBLAS extension: the thread pool size (the default is one thread per core).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// OpenBLAS: stops its worker threads (they spin between calls); single-threaded calls need none.
int blas_thread_shutdown_(void);
