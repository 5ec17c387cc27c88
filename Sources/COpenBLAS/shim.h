#include <cblas-openblas.h>
