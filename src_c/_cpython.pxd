"""The parts of the CPython C API the core uses that Cython's own .pxd files lack."""

from cpython.object cimport PyObject

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    ctypedef struct PyTypeObject:
        object (*tp_alloc)(PyTypeObject *, Py_ssize_t)
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    PyObject *PyDict_GetItemWithError(object d, object key) except? NULL
    object PyLong_FromUnsignedLongLong(unsigned long long v)
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1
    tuple PyTuple_New(Py_ssize_t n)
    PyObject *PyTuple_GET_ITEM(object t, Py_ssize_t i)
    void PyTuple_SET_ITEM(object t, Py_ssize_t i, object o)
    void Py_DECREF(object o)
    bint PyUnicode_IS_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    const char *PyUnicode_AsUTF8AndSize(object o, Py_ssize_t *size) except NULL
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    object PyUnicode_DecodeASCII(const char *s, Py_ssize_t size, const char *errors)
