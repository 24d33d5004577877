/*
 * A C extension for the --native tests (built by tests/test_native.py with
 * -O2 -fomit-frame-pointer, so only CFI can unwind it): c_call_back calls
 * back into Python, which calls c_spin, which spins in an inlined helper.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>

static volatile unsigned long sink;

/* Always inlined: with -g its DWARF makes it a frame of its own. A chain
 * of dependent multiplications, so that nearly all of the loop's cycles
 * are spent in its instructions, whichever instruction a CPU's timer
 * interrupt happens to land after (with one multiplication the loop's own
 * increment and compare took 70-80 % of the samples on an AMD EPYC). */
static inline __attribute__((always_inline)) void spin_step(unsigned long i)
{
	unsigned long v = sink;

	for (int k = 0; k < 8; k++)
		v = v * 2654435761u + i;
	sink = v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static PyObject *c_spin(PyObject *self, PyObject *arg)
{
	double seconds = PyFloat_AsDouble(arg), end;

	if (seconds < 0 && PyErr_Occurred())
		return NULL;
	end = now() + seconds;
	while (now() < end)
		for (unsigned long i = 0; i < 200000; i++)
			spin_step(i);
	Py_RETURN_NONE;
}

static PyObject *c_call_back(PyObject *self, PyObject *callable)
{
	PyObject *r = PyObject_CallObject(callable, NULL);

	/* Not a tail call: this frame stays on the stack under the callee. */
	if (!r)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
	{ "c_spin", c_spin, METH_O, "Spin for the given seconds." },
	{ "c_call_back", c_call_back, METH_O, "Call the argument with no arguments." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "native_ext", NULL, -1, methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_native_ext(void)
{
	return PyModule_Create(&module);
}
