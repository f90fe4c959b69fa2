/* rbt.kernel._native: hot steps of the kernel's value types and ledger, in C.
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
 * - book_fills(ledger, fills, Fill, _Holding, ledger._book): the loop of
 *   rbt/kernel/ledger.py's Ledger.apply_fills. The fills most runs book (opening, adding
 *   to or wholly closing a base-currency position) are booked here with the same Decimal
 *   operations in the same order, the identity checked after each; every other fill is
 *   handed to Ledger._book. A backtest books every fill twice (live, then the replay
 *   that checks the books), and its Decimal steps cost less without a frame each.
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

/* -- book_fills -------------------------------------------------------------------- */

/* Attribute names, interned once at import; and the int 0 the signs are compared with. */
static PyObject *s_asset, *s_amount, *s_price, *s_commission, *s_sid, *s_quote_currency,
    *s_multiplier, *s_cost_value, *s_last_price, *s_cash, *s_commissions, *s_realized_pnl,
    *s_cost_total, *s_receivables, *s_starting_cash, *s_other_flows, *s_holdings,
    *s_entries, *s_pending_marks, *s_marked_since, *s_base_currency, *s_check, *int_zero;

/* The ledger's four totals a fill moves, held here while a batch is booked: read at the
 * start, written back before any Python code could read them (the fallback, a failed
 * check, an error) and at the end, so the ledger's attributes are always what
 * Ledger._book would have left. */
typedef struct {
    PyObject *cash, *commissions, *realized_pnl, *cost_total;
} Totals;

static void
totals_clear(Totals *t)
{
    Py_CLEAR(t->cash);
    Py_CLEAR(t->commissions);
    Py_CLEAR(t->realized_pnl);
    Py_CLEAR(t->cost_total);
}

static int
totals_load(Totals *t, PyObject *ledger)
{
    totals_clear(t);
    t->cash = PyObject_GetAttr(ledger, s_cash);
    t->commissions = t->cash ? PyObject_GetAttr(ledger, s_commissions) : NULL;
    t->realized_pnl = t->commissions ? PyObject_GetAttr(ledger, s_realized_pnl) : NULL;
    t->cost_total = t->realized_pnl ? PyObject_GetAttr(ledger, s_cost_total) : NULL;
    return t->cost_total ? 0 : -1;
}

/* Write the totals back to the ledger; an exception already set stays the one raised. */
static int
totals_store(Totals *t, PyObject *ledger)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    int rc = 0;
    PyObject *names[4] = {s_cash, s_commissions, s_realized_pnl, s_cost_total};
    PyObject *values[4] = {t->cash, t->commissions, t->realized_pnl, t->cost_total};
    for (int i = 0; i < 4 && rc == 0; i++) {
        if (values[i] != NULL && PyObject_SetAttr(ledger, names[i], values[i]) < 0) {
            rc = -1;
        }
    }
    if (type != NULL) {
        if (rc < 0) {
            PyErr_Clear();
        }
        PyErr_Restore(type, value, traceback);
        return -1;
    }
    return rc;
}

/* `*slot = op(*slot, operand)`; on failure *slot keeps its value. */
static int
update(PyObject **slot, PyObject *operand, binaryfunc op)
{
    PyObject *result = op(*slot, operand);
    if (result == NULL) {
        return -1;
    }
    Py_SETREF(*slot, result);
    return 0;
}

/* A fill's fields and its holding, as Ledger._book reads them. */
typedef struct {
    PyObject *asset, *holding, *amount, *price, *commission, *old, *after;
    int closes; /* the fill closes the whole position */
} Booking;

static void
booking_clear(Booking *b)
{
    Py_CLEAR(b->asset);
    Py_CLEAR(b->holding);
    Py_CLEAR(b->amount);
    Py_CLEAR(b->price);
    Py_CLEAR(b->commission);
    Py_CLEAR(b->old);
    Py_CLEAR(b->after);
}

/* Whether `fill` is one this module books: exactly a Fill of a base-currency asset whose
 * holding (exactly a _Holding) exists, opening, adding to or wholly closing it. 1 yes
 * (`b` filled in), 0 no (Ledger._book books it: a first fill of the asset, a part
 * closed, a flip, another currency), -1 error (_book books it too, and raises at the
 * step it reaches first). Nothing is changed either way. */
static int
plain_fill(PyObject *fill, PyObject *fill_cls, PyObject *holding_cls, PyObject *holdings,
           PyObject *base, Booking *b)
{
    if ((PyObject *)Py_TYPE(fill) != fill_cls) {
        return 0;
    }
    PyObject *currency = NULL, *sid = NULL;
    int rc = -1;
    b->asset = PyObject_GetAttr(fill, s_asset);
    if (b->asset == NULL || (currency = PyObject_GetAttr(b->asset, s_quote_currency)) == NULL) {
        goto done;
    }
    int same = PyObject_RichCompareBool(currency, base, Py_EQ);
    int foreign = same == 0 ? PyObject_IsTrue(currency) : 0; /* "" or None: the base */
    if (same < 0 || foreign < 0) {
        goto done;
    }
    if (foreign || (sid = PyObject_GetAttr(b->asset, s_sid)) == NULL) {
        rc = foreign ? 0 : -1;
        goto done;
    }
    PyObject *holding = PyDict_GetItemWithError(holdings, sid); /* borrowed */
    if (holding == NULL || (PyObject *)Py_TYPE(holding) != holding_cls) {
        rc = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    b->holding = Py_NewRef(holding);
    if ((b->old = PyObject_GetAttr(holding, s_amount)) == NULL
        || (b->amount = PyObject_GetAttr(fill, s_amount)) == NULL
        || (b->after = PyNumber_Add(b->old, b->amount)) == NULL) {
        goto done;
    }
    /* Ledger._book's branches: opening or adding, else reducing (all of it here) */
    int adds = PyObject_RichCompareBool(b->old, int_zero, Py_EQ);
    if (adds == 0) {
        int held_long = PyObject_RichCompareBool(b->old, int_zero, Py_GT);
        int buys = held_long < 0 ? -1 : PyObject_RichCompareBool(b->amount, int_zero, Py_GT);
        adds = buys < 0 ? -1 : held_long == buys;
    }
    if (adds < 0) {
        goto done;
    }
    if (!adds) {
        b->closes = PyObject_RichCompareBool(b->after, int_zero, Py_EQ);
        if (b->closes <= 0) {
            rc = b->closes; /* 0: a part closed, or a flip through zero */
            goto done;
        }
    }
    if ((b->price = PyObject_GetAttr(fill, s_price)) == NULL
        || (b->commission = PyObject_GetAttr(fill, s_commission)) == NULL) {
        goto done;
    }
    rc = 1;
done:
    Py_XDECREF(currency);
    Py_XDECREF(sid);
    return rc;
}

/* Ledger._check on the totals: 0 when the books balance, else -1 (Ledger._check itself
 * raises, with its message, after the totals are written back). */
static int
check_books(Totals *t, PyObject *ledger, PyObject *receivables, PyObject *rhs_fixed)
{
    /* lhs = cash + receivables + cost; rhs = starting + realized - commissions + flows */
    PyObject *lhs = PyNumber_Add(t->cash, receivables);
    Py_XSETREF(lhs, lhs ? PyNumber_Add(lhs, t->cost_total) : NULL);
    PyObject *rhs = PyNumber_Add(PyTuple_GET_ITEM(rhs_fixed, 0), t->realized_pnl);
    Py_XSETREF(rhs, rhs ? PyNumber_Subtract(rhs, t->commissions) : NULL);
    Py_XSETREF(rhs, rhs ? PyNumber_Add(rhs, PyTuple_GET_ITEM(rhs_fixed, 1)) : NULL);
    int equal = lhs && rhs ? PyObject_RichCompareBool(lhs, rhs, Py_EQ) : -1;
    Py_XDECREF(lhs);
    Py_XDECREF(rhs);
    if (equal == 1) {
        return 0;
    }
    if (equal == 0 && totals_store(t, ledger) == 0) {
        PyObject *result = PyObject_CallMethodNoArgs(ledger, s_check); /* raises */
        if (result != NULL) { /* it found them balanced after all */
            Py_DECREF(result);
            return 0;
        }
    }
    return -1;
}

/* Book a plain fill `b` into the totals and its holding, as Ledger._book does. */
static int
book_plain(Totals *t, PyObject *fill, Booking *b, PyObject *entries)
{
    PyObject *multiplier = PyObject_GetAttr(b->asset, s_multiplier);
    PyObject *notional = multiplier ? PyNumber_Multiply(b->amount, b->price) : NULL;
    Py_XSETREF(notional, notional ? PyNumber_Multiply(notional, multiplier) : NULL);
    Py_XDECREF(multiplier);
    PyObject *paid = notional ? PyNumber_Add(notional, b->commission) : NULL;
    PyObject *cost_delta = NULL, *cost_value = NULL;
    int rc = -1;
    if (paid == NULL || update(&t->cash, paid, PyNumber_Subtract) < 0
        || update(&t->commissions, b->commission, PyNumber_Add) < 0) {
        goto done;
    }
    if ((cost_value = PyObject_GetAttr(b->holding, s_cost_value)) == NULL) {
        goto done;
    }
    if (!b->closes) { /* opening or adding: cost grows by exactly what was paid */
        cost_delta = Py_NewRef(notional);
    }
    else { /* all of it: realized = -notional - its whole cost */
        PyObject *realized = PyNumber_Negative(notional);
        Py_XSETREF(realized, realized ? PyNumber_Subtract(realized, cost_value) : NULL);
        int failed = realized == NULL || update(&t->realized_pnl, realized, PyNumber_Add) < 0;
        Py_XDECREF(realized);
        if (failed || (cost_delta = PyNumber_Negative(cost_value)) == NULL) {
            goto done;
        }
    }
    if (PyObject_SetAttr(b->holding, s_amount, b->after) < 0
        || update(&cost_value, cost_delta, PyNumber_Add) < 0
        || PyObject_SetAttr(b->holding, s_cost_value, cost_value) < 0
        || PyObject_SetAttr(b->holding, s_last_price, b->price) < 0
        || update(&t->cost_total, cost_delta, PyNumber_Add) < 0
        || PyList_Append(entries, fill) < 0) {
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(notional);
    Py_XDECREF(paid);
    Py_XDECREF(cost_delta);
    Py_XDECREF(cost_value);
    return rc;
}

/* book_fills(ledger, fills, fill_cls, holding_cls, book): Ledger.apply_fills' loop. */
static PyObject *
book_fills(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "book_fills(ledger, fills, fill_cls, holding_cls, book) takes 5 arguments");
        return NULL;
    }
    PyObject *ledger = args[0], *fill_cls = args[2], *holding_cls = args[3], *book = args[4];
    PyObject *fills = PySequence_Fast(args[1], "book_fills needs a sequence of fills");
    if (fills == NULL) {
        return NULL;
    }
    Totals t = {NULL, NULL, NULL, NULL};
    Booking b = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    PyObject *out = NULL, *holdings = NULL, *entries = NULL, *base = NULL, *pending = NULL;
    PyObject *receivables = NULL, *rhs_fixed = NULL, *starting = NULL, *flows = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fills);
    if ((out = PyList_New(n)) == NULL || (holdings = PyObject_GetAttr(ledger, s_holdings)) == NULL
        || (entries = PyObject_GetAttr(ledger, s_entries)) == NULL
        || (base = PyObject_GetAttr(ledger, s_base_currency)) == NULL
        || (pending = PyObject_GetAttr(ledger, s_pending_marks)) == NULL
        || (receivables = PyObject_GetAttr(ledger, s_receivables)) == NULL
        || (starting = PyObject_GetAttr(ledger, s_starting_cash)) == NULL
        || (flows = PyObject_GetAttr(ledger, s_other_flows)) == NULL
        || (rhs_fixed = PyTuple_Pack(2, starting, flows)) == NULL) {
        goto fail;
    }
    if (!PyDict_CheckExact(holdings) || !PyList_CheckExact(entries)) {
        PyErr_SetString(PyExc_TypeError, "book_fills needs a Ledger's own dict and list");
        goto fail;
    }
    if (totals_load(&t, ledger) < 0) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *fill = PySequence_Fast_GET_ITEM(fills, i);
        booking_clear(&b);
        b.closes = 0;
        int plain = plain_fill(fill, fill_cls, holding_cls, holdings, base, &b);
        if (plain < 0) { /* a value that refuses a sign test: _book raises where it would */
            PyErr_Clear();
        }
        if (plain <= 0) { /* Ledger._book, reading and writing the ledger's own totals */
            if (totals_store(&t, ledger) < 0) {
                goto fail;
            }
            PyObject *amount = PyObject_CallOneArg(book, fill);
            if (amount == NULL || totals_load(&t, ledger) < 0) {
                Py_XDECREF(amount);
                totals_clear(&t); /* the ledger holds what _book left */
                goto fail;
            }
            PyList_SET_ITEM(out, i, amount);
            continue;
        }
        if (pending != Py_None) { /* the fill's price replaces a deferred mark */
            PyObject *marked = PyObject_GetAttr(ledger, s_marked_since);
            PyObject *sid = marked ? PyObject_GetAttr(b.asset, s_sid) : NULL;
            int added = sid ? PySet_Add(marked, sid) : -1;
            Py_XDECREF(marked);
            Py_XDECREF(sid);
            if (added < 0) {
                goto fail;
            }
        }
        if (book_plain(&t, fill, &b, entries) < 0 || check_books(&t, ledger, receivables, rhs_fixed) < 0) {
            goto fail;
        }
        PyList_SET_ITEM(out, i, Py_NewRef(b.after));
    }
    if (totals_store(&t, ledger) < 0) {
        goto fail;
    }
    goto done;
fail:
    totals_store(&t, ledger);
    Py_CLEAR(out);
done:
    booking_clear(&b);
    totals_clear(&t);
    Py_DECREF(fills);
    Py_XDECREF(holdings);
    Py_XDECREF(entries);
    Py_XDECREF(base);
    Py_XDECREF(pending);
    Py_XDECREF(receivables);
    Py_XDECREF(rhs_fixed);
    Py_XDECREF(starting);
    Py_XDECREF(flows);
    return out;
}

static int
intern_names(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_asset, "asset"}, {&s_amount, "amount"}, {&s_price, "price"},
        {&s_commission, "commission"}, {&s_sid, "sid"}, {&s_quote_currency, "quote_currency"},
        {&s_multiplier, "multiplier"}, {&s_cost_value, "cost_value"},
        {&s_last_price, "last_price"}, {&s_cash, "cash"}, {&s_commissions, "commissions"},
        {&s_realized_pnl, "realized_pnl"}, {&s_cost_total, "_cost_total"},
        {&s_receivables, "receivables"}, {&s_starting_cash, "starting_cash"},
        {&s_other_flows, "other_flows"}, {&s_holdings, "_holdings"}, {&s_entries, "_entries"},
        {&s_pending_marks, "_pending_marks"}, {&s_marked_since, "_marked_since"},
        {&s_base_currency, "base_currency"}, {&s_check, "_check"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if ((*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return -1;
        }
    }
    int_zero = PyLong_FromLong(0);
    return int_zero ? 0 : -1;
}

static PyMethodDef native_methods[] = {
    {"hash_by_slot", hash_by_slot, METH_VARARGS,
     PyDoc_STR("hash_by_slot(cls, name): instances of exactly cls hash as their slot name.")},
    {"book_fills", (PyCFunction)(void (*)(void))book_fills, METH_FASTCALL,
     PyDoc_STR("book_fills(ledger, fills, fill_cls, holding_cls, book): Ledger.apply_fills' "
               "loop, the plain fills booked here.")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rbt.kernel._native",
    .m_doc = PyDoc_STR("C versions of hot steps of rbt.kernel.model and rbt.kernel.ledger."),
    .m_size = -1,
    .m_methods = native_methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    if (PyType_Ready(&SlotBuilderType) < 0 || intern_names() < 0) {
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
