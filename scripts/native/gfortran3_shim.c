/* libgfortran.so.3 compatibility shim: netlib-java's JNI stub was linked against
   libgfortran.so.3 (GFORTRAN_1.0/1.4 symbol versions) for XERBLA's error printing only. */
#include <string.h>
int _gfortran_compare_string(long l1, const char *s1, long l2, const char *s2) {
  long n = l1 < l2 ? l1 : l2; int c = memcmp(s1, s2, n);
  if (c) return c; return (l1 > l2) - (l1 < l2);
}
float _gfortran_etime(float *t) { if (t) { t[0] = 0; t[1] = 0; } return 0; }
void _gfortran_st_write(void *p) { (void)p; }
void _gfortran_st_write_done(void *p) { (void)p; }
void _gfortran_transfer_array_write(void *p, void *a, int k, long l) { (void)p; (void)a; (void)k; (void)l; }
void _gfortran_transfer_character_write(void *p, const char *s, long l) { (void)p; (void)s; (void)l; }
void _gfortran_transfer_integer_write(void *p, const void *v, int k) { (void)p; (void)v; (void)k; }
void _gfortran_transfer_real_write(void *p, const void *v, int k) { (void)p; (void)v; (void)k; }
