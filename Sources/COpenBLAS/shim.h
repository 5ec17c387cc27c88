#include <cblas-openblas.h>
#include <stddef.h>

/* LAPACK's single-precision singular value decomposition, which libopenblas exports with the
 * Fortran calling convention (column-major arrays, every argument by pointer, and the hidden
 * lengths of the two character arguments last). Debian's libopenblas has no LAPACKE header. */
void sgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, float *a, const int *lda,
             float *s, float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *info, size_t jobu_length, size_t jobvt_length);
