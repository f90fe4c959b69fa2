/* rbt.kernel._native: object-protocol steps of the kernel's value types, in C.
 *
 * A backtest builds a few objects per order (Order, Fill) and hashes an Asset for every
 * `asset in positions`; in Python each is a function call with a frame. The steps here
 * do exactly what the Python code in rbt/kernel/model.py does (the fallback when this
 * module is not built), without the frame:
 *
 * - SlotBuilder(cls, names)(*values): a new instance of the slotted class `cls` with the
 *   slots `names` set to `values`, in order: what `object.__new__(cls)` followed by each
 *   slot's own setter gives (no __init__, no converter, no validator); its
 *   replace_tail(obj, *values) copies obj with the last slots replaced. Only for a class
 *   that object.__new__ may build (a Python class over `object`, not abstract) and its
 *   own slots: anything else is refused, as the slot setters and object.__new__ refuse it.
 * - hash_by_slot(cls, name): instances of exactly `cls` hash as a `__hash__` returning
 *   their slot `name` would (the same number: CPython's rule for a __hash__ result).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* Whether `object.__new__(cls)` would build `cls` (the only layout the builders write
 * into), else 0 with an exception set. */
static int
buildable(PyTypeObject *cls)
{
    if (!(cls->tp_flags & Py_TPFLAGS_HEAPTYPE) || cls->tp_new != PyBaseObject_Type.tp_new
        || (cls->tp_flags & Py_TPFLAGS_IS_ABSTRACT)) {
        PyErr_Format(PyExc_TypeError,
                     "%s is not a concrete Python class that object.__new__ builds",
                     cls->tp_name);
        return 0;
    }
    return 1;
}

/* The offset of the object slot `name` of `cls`, or -1 with an exception set. */
static Py_ssize_t
slot_offset(PyTypeObject *cls, PyObject *name)
{
    PyObject *descr = _PyType_Lookup(cls, name); /* borrowed */
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%s has no slot %R", cls->tp_name, name);
        return -1;
    }
    /* a slot of this class or a base: a descriptor of another class put on it (its setter
     * would refuse the object) points into someone else's layout */
    if (!PyType_IsSubtype(cls, PyDescr_TYPE(descr))) {
        PyErr_Format(PyExc_TypeError, "%s.%U is a slot of %s", cls->tp_name, name,
                     PyDescr_TYPE(descr)->tp_name);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX || (member->flags & READONLY)) {
        PyErr_Format(PyExc_TypeError, "%s.%U is not a writable object slot", cls->tp_name,
                     name);
        return -1;
    }
    return member->offset;
}

/* -- SlotBuilder ------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyTypeObject *cls;
    Py_ssize_t count;
    Py_ssize_t *offsets;
} SlotBuilder;

static PyObject *
builder_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    SlotBuilder *builder = (SlotBuilder *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (builder->cls == NULL) { /* cleared by the collector: garbage being torn down */
        PyErr_SetString(PyExc_RuntimeError, "this SlotBuilder was cleared");
        return NULL;
    }
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) {
        PyErr_Format(PyExc_TypeError, "building %s takes positional values only",
                     builder->cls->tp_name);
        return NULL;
    }
    if (nargs != builder->count) {
        PyErr_Format(PyExc_TypeError, "building %s takes %zd values, got %zd",
                     builder->cls->tp_name, builder->count, nargs);
        return NULL;
    }
    PyObject *obj = builder->cls->tp_alloc(builder->cls, 0); /* slots start NULL */
    if (obj == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyObject **slot = (PyObject **)((char *)obj + builder->offsets[i]);
        Py_INCREF(args[i]);
        Py_XSETREF(*slot, args[i]);
    }
    return obj;
}

/* builder.replace_tail(obj, *values): a copy of `obj` (exactly of the builder's class)
 * in which the builder's last len(values) slots take `values`, a None keeping obj's value:
 * attrs.evolve for the fields that change as an order lives, without the frame. */
static PyObject *
builder_replace_tail(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    SlotBuilder *builder = (SlotBuilder *)self;
    if (builder->cls == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this SlotBuilder was cleared");
        return NULL;
    }
    if (nargs < 1 || nargs - 1 > builder->count) {
        PyErr_Format(PyExc_TypeError, "replace_tail takes an object and at most %zd values",
                     builder->count);
        return NULL;
    }
    PyObject *source = args[0];
    if (Py_TYPE(source) != builder->cls) {
        PyErr_Format(PyExc_TypeError, "replace_tail copies a %s, not a %s",
                     builder->cls->tp_name, Py_TYPE(source)->tp_name);
        return NULL;
    }
    PyObject *obj = builder->cls->tp_alloc(builder->cls, 0);
    if (obj == NULL) {
        return NULL;
    }
    Py_ssize_t first = builder->count - (nargs - 1);
    for (Py_ssize_t i = 0; i < builder->count; i++) {
        Py_ssize_t offset = builder->offsets[i];
        PyObject *value = i >= first ? args[1 + i - first] : Py_None;
        if (value == Py_None) {
            value = *(PyObject **)((char *)source + offset); /* may be NULL: unset */
        }
        Py_XINCREF(value);
        Py_XSETREF(*(PyObject **)((char *)obj + offset), value);
    }
    return obj;
}

static PyMethodDef builder_methods[] = {
    {"replace_tail", (PyCFunction)(void (*)(void))builder_replace_tail, METH_FASTCALL,
     PyDoc_STR("replace_tail(obj, *values): obj with its last slots replaced (None keeps).")},
    {NULL, NULL, 0, NULL},
};

static PyObject *
builder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *cls;
    PyObject *names;
    static char *keywords[] = {"cls", "names", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!:SlotBuilder", keywords, &PyType_Type,
                                     &cls, &PyTuple_Type, &names)) {
        return NULL;
    }
    if (!buildable((PyTypeObject *)cls)) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    SlotBuilder *self = (SlotBuilder *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = builder_vectorcall;
    self->cls = (PyTypeObject *)Py_NewRef(cls);
    self->count = count;
    self->offsets = PyMem_New(Py_ssize_t, count > 0 ? count : 1);
    if (self->offsets == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "slot names must be strings");
            Py_DECREF(self);
            return NULL;
        }
        self->offsets[i] = slot_offset(self->cls, name);
        if (self->offsets[i] < 0) {
            Py_DECREF(self);
            return NULL;
        }
    }
    return (PyObject *)self;
}

/* The builder holds its class: seen by the collector (class -> its functions' globals ->
 * the builder -> the class is a cycle for a class made at run time). */
static int
builder_traverse(SlotBuilder *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cls);
    return 0;
}

static int
builder_clear(SlotBuilder *self)
{
    Py_CLEAR(self->cls);
    return 0;
}

static void
builder_dealloc(SlotBuilder *self)
{
    PyObject_GC_UnTrack(self);
    builder_clear(self);
    PyMem_Free(self->offsets);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
builder_repr(SlotBuilder *self)
{
    const char *name = self->cls != NULL ? self->cls->tp_name : "nothing (cleared)";
    return PyUnicode_FromFormat("<SlotBuilder of %s (%zd slots)>", name, self->count);
}

static PyTypeObject SlotBuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rbt.kernel._native.SlotBuilder",
    .tp_doc = PyDoc_STR("SlotBuilder(cls, names)(*values): a new cls with its slots set."),
    .tp_basicsize = sizeof(SlotBuilder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_HAVE_GC,
    .tp_new = builder_new,
    .tp_dealloc = (destructor)builder_dealloc,
    .tp_traverse = (traverseproc)builder_traverse,
    .tp_clear = (inquiry)builder_clear,
    .tp_repr = (reprfunc)builder_repr,
    .tp_methods = builder_methods,
    .tp_vectorcall_offset = offsetof(SlotBuilder, vectorcall),
    .tp_call = PyVectorcall_Call,
};

/* -- hash_by_slot ------------------------------------------------------------------ */

/* One offset per process: the kernel's Asset's sid (a reloaded model's Asset has the same
 * layout, so the same offset). Only classes passed to hash_by_slot get hash_from_slot. */
static Py_ssize_t hash_offset = -1;

static Py_hash_t
hash_from_slot(PyObject *self)
{
    PyObject *value = *(PyObject **)((char *)self + hash_offset);
    if (value == NULL) {
        PyErr_Format(PyExc_AttributeError, "%s has no value to hash yet",
                     Py_TYPE(self)->tp_name);
        return -1;
    }
    if (!PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "__hash__ method should return an integer");
        return -1;
    }
    /* as CPython treats an int returned by __hash__: itself when it fits, else its hash */
    Py_ssize_t h = PyLong_AsSsize_t(value);
    if (h == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return PyLong_Type.tp_hash(value);
    }
    return h == -1 ? -2 : (Py_hash_t)h;
}

static PyObject *
hash_by_slot(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyTypeObject *cls;
    PyObject *name;
    if (!PyArg_ParseTuple(args, "O!U:hash_by_slot", &PyType_Type, &cls, &name)) {
        return NULL;
    }
    if (!buildable(cls)) {
        return NULL;
    }
    Py_ssize_t offset = slot_offset(cls, name);
    if (offset < 0) {
        return NULL;
    }
    if (hash_offset >= 0 && offset != hash_offset) {
        PyErr_Format(PyExc_RuntimeError,
                     "hash_by_slot serves one slot offset per process (%zd); %s.%U is at %zd",
                     hash_offset, cls->tp_name, name, offset);
        return NULL;
    }
    hash_offset = offset;
    /* exactly this class: a subclass made later looks __hash__ up as usual */
    cls->tp_hash = hash_from_slot;
    PyType_Modified(cls);
    Py_RETURN_NONE;
}

static PyMethodDef native_methods[] = {
    {"hash_by_slot", hash_by_slot, METH_VARARGS,
     PyDoc_STR("hash_by_slot(cls, name): instances of exactly cls hash as their slot name.")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rbt.kernel._native",
    .m_doc = PyDoc_STR("C versions of two object-protocol steps of rbt.kernel.model."),
    .m_size = -1,
    .m_methods = native_methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    if (PyType_Ready(&SlotBuilderType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "SlotBuilder", (PyObject *)&SlotBuilderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
