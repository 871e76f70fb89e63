/* SPDX-License-Identifier: MIT
 *
 * This file implements label equations (equation.h): a lexer, an iterative
 * shunting-yard parser that compiles the text into a postfix program, the
 * binding of metric names to data columns, and the evaluation loop.
 *
 * The parser keeps its pending operators, parentheses and calls on a heap
 * stack bounded by the length of the text, so no input can exhaust the C
 * stack. While it emits the program it tracks the depth of the evaluation
 * stack; every value pushed comes from a number or a metric token, and two
 * such tokens are always separated by at least one other token, so the depth
 * never exceeds EVAL_STACK_MAX and evaluation can use a fixed local array.
 */
#include "equation/equation.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* Values on the evaluation stack at most: one per operand token. */
#define EVAL_STACK_MAX (AB_EQUATION_MAX_LEN / 2 + 1)
/* Characters of a long equation quoted in an error message. */
#define QUOTE_WINDOW 160
/* Characters of one token quoted in an error message. */
#define TOKEN_SHOWN 48

enum opcode {
    OP_CONST, /* push val */
    OP_VAR,   /* push values[col] */
    OP_NEG,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_POW,
    OP_LOG,
    OP_LOG10,
    OP_LOG2,
    OP_EXP,
    OP_SQRT,
    OP_ABS,
    OP_MIN, /* n arguments */
    OP_MAX, /* n arguments */
};

struct insn {
    enum opcode op;
    int n;      /* OP_VAR: index into vars; OP_MIN/OP_MAX: argument count */
    int col;    /* OP_VAR: data column, set by ab_equation_bind() */
    double val; /* OP_CONST */
};

struct eq_var {
    char *name;
    size_t off; /* 0-based offset of its first use in the text */
    int col;    /* data column after bind */
};

struct ab_equation {
    char *text;
    size_t len;
    struct insn *code;
    int n_code;
    struct eq_var *vars; /* distinct metric names, in order of first use */
    int n_vars;
    int bound_cols;     /* n_names of the last successful bind; -1: unbound */
};

/* ---- functions --------------------------------------------------------- */

struct func {
    const char *name;
    enum opcode op;
    int min_args;
    int max_args;
};

static const struct func funcs[] = {
    {"log", OP_LOG, 1, 1},         {"log10", OP_LOG10, 1, 1},
    {"log2", OP_LOG2, 1, 1},       {"exp", OP_EXP, 1, 1},
    {"sqrt", OP_SQRT, 1, 1},       {"abs", OP_ABS, 1, 1},
    {"fabs", OP_ABS, 1, 1},        {"pow", OP_POW, 2, 2},
    {"power", OP_POW, 2, 2},       {"min", OP_MIN, 2, INT_MAX},
    {"max", OP_MAX, 2, INT_MAX},   {"minimum", OP_MIN, 2, 2},
    {"maximum", OP_MAX, 2, 2},
};

#define KNOWN_FUNCS                                                            \
    "known functions: log, log10, log2, exp, pow, sqrt, abs, min, max "       \
    "(also power, fabs, minimum, maximum; each may be prefixed np., numpy. "  \
    "or math.)"

static const struct func *find_func(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0)
            return &funcs[i];
    return NULL;
}

/* ---- bounded, escaped message text ------------------------------------- */

struct sbuf {
    char *s;
    size_t cap; /* bytes in s, including the NUL */
    size_t n;
};

/* An empty string in buf[0..cap), cap >= 1. */
static struct sbuf sb_on(char *buf, size_t cap)
{
    buf[0] = '\0';
    return (struct sbuf){buf, cap, 0};
}

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int w;
    if (b->n + 1 >= b->cap) return;
    va_start(ap, fmt);
    w = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (w < 0) return;
    b->n += (size_t)w;
    if (b->n >= b->cap) b->n = b->cap - 1;
}

/* Appends s[0..n) with '"', '\\' and non-printable bytes escaped, so that
 * the message stays on one line. */
static void sb_escaped(struct sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
        else if (c == '\n') sb_printf(b, "\\n");
        else if (c == '\t') sb_printf(b, "\\t");
        else if (c < 0x20 || c >= 0x7f) sb_printf(b, "\\x%02x", c);
        else sb_printf(b, "%c", c);
    }
}

/* Appends s[0..n), escaped, cut to `shown` bytes with "..." after. */
static void sb_cut(struct sbuf *b, const char *s, size_t n, size_t shown)
{
    sb_escaped(b, s, n < shown ? n : shown);
    if (n > shown) sb_printf(b, "...");
}

/* Appends the equation, or a window of it around offset `focus` when it is
 * long. */
static void sb_equation(struct sbuf *b, const char *text, size_t len, size_t focus)
{
    size_t start = 0, end = len;
    if (len > QUOTE_WINDOW) {
        start = focus > QUOTE_WINDOW / 2 ? focus - QUOTE_WINDOW / 2 : 0;
        if (start > len - QUOTE_WINDOW) start = len - QUOTE_WINDOW;
        end = start + QUOTE_WINDOW;
    }
    if (start > 0) sb_printf(b, "...");
    sb_escaped(b, text + start, end - start);
    if (end < len) sb_printf(b, "...");
}

/* Records `label equation "<text>": <message>` as an AB_ERR_INPUT. focus is
 * the 0-based offset the message is about (it picks the quoted window). */
static ab_status fail_at(const char *text, size_t len, size_t focus, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static ab_status fail_at(const char *text, size_t len, size_t focus, const char *fmt, ...)
{
    char quoted[400], msg[768];
    struct sbuf q = sb_on(quoted, sizeof quoted);
    va_list ap;
    sb_equation(&q, text, len, focus);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ab_err_set(AB_ERR_INPUT, "label equation \"%s\": %s", quoted, msg);
}

/* ---- lexer ------------------------------------------------------------- */

enum tok_kind {
    T_END,
    T_NUM,
    T_NAME,   /* metric name, or a prefixed name not followed by '(' */
    T_CALL,   /* name followed by '(' (the '(' is part of the token) */
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_POW,    /* '^' or '**' */
    T_BAD,    /* a byte that starts no token */
};

struct token {
    enum tok_kind kind;
    size_t off;    /* 0-based offset of the first byte */
    size_t len;    /* bytes shown in messages (a call: the name only) */
    size_t prefix; /* T_NAME/T_CALL: length of "np." etc., 0 when none */
    double num;    /* T_NUM */
};

struct parser {
    const char *text;
    size_t len;
    size_t pos;
    locale_t c_locale;

    struct frame *stack; /* pending operators, parentheses and calls */
    int n_stack;
    int n_groups; /* parentheses and calls on the stack */
    int depth;    /* evaluation stack depth after the code emitted so far */
    int code_cap; /* instructions in eq->code, and frames in stack */
    struct ab_equation *eq;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_ident(char c) { return is_ident_start(c) || is_digit(c); }

static size_t skip_digits(const char *s, size_t i)
{
    while (is_digit(s[i])) i++;
    return i;
}

static ab_status lex_number(struct parser *p, struct token *t)
{
    const char *s = p->text;
    size_t i = skip_digits(s, p->pos);
    char buf[AB_EQUATION_MAX_LEN + 1];
    char *end = NULL;
    if (s[i] == '.') i = skip_digits(s, i + 1);
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-') j++;
        if (!is_digit(s[j])) {
            char shown[2 * TOKEN_SHOWN];
            struct sbuf b = sb_on(shown, sizeof shown);
            sb_cut(&b, s + p->pos, j - p->pos, TOKEN_SHOWN);
            return fail_at(s, p->len, p->pos,
                           "malformed number '%s' at column %zu: the exponent "
                           "needs digits, e.g. 1e-3",
                           shown, p->pos + 1);
        }
        i = skip_digits(s, j);
    }
    t->kind = T_NUM;
    t->len = i - p->pos;
    memcpy(buf, s + p->pos, t->len);
    buf[t->len] = '\0';
    t->num = strtod_l(buf, &end, p->c_locale);
    if (end != buf + t->len)
        return ab_err_set(AB_ERR_INTERNAL, "internal error: strtod_l stopped "
                          "at byte %d of '%s' at %s:%d; please report this",
                          (int)(end - buf), buf, __FILE__, __LINE__);
    if (isinf(t->num)) {
        char shown[2 * TOKEN_SHOWN];
        struct sbuf b = sb_on(shown, sizeof shown);
        sb_cut(&b, buf, t->len, TOKEN_SHOWN);
        return fail_at(s, p->len, p->pos,
                       "number '%s' at column %zu is too large for a double",
                       shown, p->pos + 1);
    }
    p->pos = i;
    return AB_OK;
}

/* A name, with an optional np./numpy./math. prefix; a name followed by '('
 * (after optional whitespace) is a call. */
static void lex_name(struct parser *p, struct token *t)
{
    const char *s = p->text;
    size_t i = p->pos, k;
    while (is_ident(s[i])) i++;
    t->prefix = 0;
    if (s[i] == '.' && is_ident_start(s[i + 1])) {
        size_t n = i - p->pos;
        const char *w = s + p->pos;
        if ((n == 2 && memcmp(w, "np", 2) == 0) ||
            (n == 5 && memcmp(w, "numpy", 5) == 0) ||
            (n == 4 && memcmp(w, "math", 4) == 0)) {
            t->prefix = n + 1;
            i++;
            while (is_ident(s[i])) i++;
        }
    }
    t->len = i - p->pos;
    for (k = i; is_space(s[k]); k++) {}
    if (s[k] == '(') {
        t->kind = T_CALL;
        p->pos = k + 1;
    } else {
        t->kind = T_NAME;
        p->pos = i;
    }
}

/* Reads the next token at p->pos. Fails only on a malformed number or one
 * too large for a double. */
static ab_status lex(struct parser *p, struct token *t)
{
    const char *s = p->text;
    while (is_space(s[p->pos])) p->pos++;
    memset(t, 0, sizeof *t);
    t->off = p->pos;
    t->len = 1;
    switch (s[p->pos]) {
    case '\0': t->kind = T_END; t->len = 0; return AB_OK;
    case '(': t->kind = T_LPAREN; break;
    case ')': t->kind = T_RPAREN; break;
    case ',': t->kind = T_COMMA; break;
    case '+': t->kind = T_PLUS; break;
    case '-': t->kind = T_MINUS; break;
    case '/': t->kind = T_SLASH; break;
    case '^': t->kind = T_POW; break;
    case '*':
        if (s[p->pos + 1] == '*') {
            t->kind = T_POW;
            t->len = 2;
        } else {
            t->kind = T_STAR;
        }
        break;
    default:
        if (is_digit(s[p->pos]) || (s[p->pos] == '.' && is_digit(s[p->pos + 1])))
            return lex_number(p, t);
        if (is_ident_start(s[p->pos])) {
            lex_name(p, t);
            return AB_OK;
        }
        t->kind = T_BAD;
        break;
    }
    p->pos += t->len;
    return AB_OK;
}

/* The token as quoted in messages, e.g. 'acc' or 'log('. */
static const char *tok_text(const struct parser *p, const struct token *t, char *buf, size_t cap)
{
    struct sbuf b = sb_on(buf, cap);
    sb_cut(&b, p->text + t->off, t->len, TOKEN_SHOWN);
    if (t->kind == T_CALL) sb_printf(&b, "(");
    return buf;
}

/* ---- parser ------------------------------------------------------------ */

enum frame_kind { F_OP, F_PAREN, F_CALL };

struct frame {
    enum frame_kind kind;
    enum opcode op;        /* F_OP */
    int prec;              /* F_OP */
    const struct func *fn; /* F_CALL */
    int argc;              /* F_CALL: arguments completed so far */
    struct token tok;      /* the operator, '(' or call token */
};

enum { PREC_ADD = 1, PREC_MUL = 2, PREC_NEG = 3, PREC_POW = 4 };

static ab_status emit(struct parser *p, enum opcode op, int n, double val)
{
    ab_status rc = AB_OK;
    struct ab_equation *eq = p->eq;
    struct insn *in;
    AB_ASSERT(eq->n_code < p->code_cap);
    in = &eq->code[eq->n_code++];
    in->op = op;
    in->n = n;
    in->col = -1;
    in->val = val;
    switch (op) {
    case OP_CONST:
    case OP_VAR: p->depth++; break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_POW: p->depth--; break;
    case OP_MIN:
    case OP_MAX: p->depth -= n - 1; break;
    default: break;
    }
    AB_ASSERT(p->depth >= 1 && p->depth <= EVAL_STACK_MAX);
cleanup:
    return rc;
}

/* The index of the metric named by t in eq->vars, added when new. */
static ab_status intern_var(struct parser *p, const struct token *t, int *index)
{
    ab_status rc = AB_OK;
    struct ab_equation *eq = p->eq;
    const char *name = p->text + t->off;
    struct eq_var *grown;
    for (int i = 0; i < eq->n_vars; i++) {
        if (strlen(eq->vars[i].name) == t->len &&
            memcmp(eq->vars[i].name, name, t->len) == 0) {
            *index = i;
            return AB_OK;
        }
    }
    grown = realloc(eq->vars, (size_t)(eq->n_vars + 1) * sizeof *grown);
    AB_CHECK_ALLOC(grown);
    eq->vars = grown;
    grown[eq->n_vars].name = strndup(name, t->len);
    AB_CHECK_ALLOC(grown[eq->n_vars].name);
    grown[eq->n_vars].off = t->off;
    grown[eq->n_vars].col = -1;
    *index = eq->n_vars++;
cleanup:
    return rc;
}

static ab_status push(struct parser *p, struct frame f)
{
    if (f.kind != F_OP && ++p->n_groups > AB_EQUATION_MAX_NESTING)
        return fail_at(p->text, p->len, f.tok.off,
                       "parentheses and calls nested deeper than %d at "
                       "column %zu",
                       AB_EQUATION_MAX_NESTING, f.tok.off + 1);
    if (p->n_stack >= p->code_cap) /* both are bounded by the tokens */
        return ab_err_set(AB_ERR_INTERNAL, "internal error: label equation "
                          "parser stack overflow at %s:%d; please report this",
                          __FILE__, __LINE__);
    p->stack[p->n_stack++] = f;
    return AB_OK;
}

/* Emits and pops operators while they bind at least as tightly as an
 * incoming binary operator of precedence prec. */
static ab_status reduce(struct parser *p, int prec, bool right_assoc)
{
    while (p->n_stack > 0) {
        const struct frame *top = &p->stack[p->n_stack - 1];
        if (top->kind != F_OP) break;
        if (top->prec < prec || (top->prec == prec && right_assoc)) break;
        AB_TRY(emit(p, top->op, 0, 0.0));
        p->n_stack--;
    }
    return AB_OK;
}

/* The innermost open parenthesis or call, NULL at top level. */
static const struct frame *innermost_group(const struct parser *p)
{
    for (int i = p->n_stack - 1; i >= 0; i--)
        if (p->stack[i].kind != F_OP) return &p->stack[i];
    return NULL;
}

static ab_status arity_error(const struct parser *p, const struct frame *call)
{
    const struct func *fn = call->fn;
    char name[2 * TOKEN_SHOWN];
    struct sbuf b = sb_on(name, sizeof name);
    sb_cut(&b, p->text + call->tok.off, call->tok.len, TOKEN_SHOWN);
    if (fn->max_args == INT_MAX)
        return fail_at(p->text, p->len, call->tok.off,
                       "function '%s' at column %zu takes at least %d "
                       "arguments, got %d",
                       name, call->tok.off + 1, fn->min_args, call->argc);
    return fail_at(p->text, p->len, call->tok.off,
                   "function '%s' at column %zu takes %d argument%s, got %d",
                   name, call->tok.off + 1, fn->min_args,
                   fn->min_args == 1 ? "" : "s", call->argc);
}

static ab_status unknown_func(const struct parser *p, const struct token *t)
{
    char name[2 * TOKEN_SHOWN];
    struct sbuf b = sb_on(name, sizeof name);
    sb_cut(&b, p->text + t->off, t->len, TOKEN_SHOWN);
    if (t->kind == T_CALL && t->prefix == 0)
        return fail_at(p->text, p->len, t->off,
                       "unknown function '%s' at column %zu; " KNOWN_FUNCS
                       "; to multiply, write %s*(...)",
                       name, t->off + 1, name);
    return fail_at(p->text, p->len, t->off,
                   "unknown function '%s' at column %zu; " KNOWN_FUNCS, name,
                   t->off + 1);
}

/* A prefixed name such as np.log not followed by '(': not a metric. */
static ab_status prefixed_name(const struct parser *p, const struct token *t)
{
    char name[2 * TOKEN_SHOWN];
    struct sbuf b = sb_on(name, sizeof name);
    if (!find_func(p->text + t->off + t->prefix, t->len - t->prefix))
        return unknown_func(p, t);
    sb_cut(&b, p->text + t->off, t->len, TOKEN_SHOWN);
    return fail_at(p->text, p->len, t->off,
                   "function '%s' at column %zu needs its arguments in "
                   "parentheses, e.g. %s(acc)",
                   name, t->off + 1, name);
}

/* "after 'x' at column N (end of equation)" or "after 'x' but found 'y' at
 * column N"; `after` is NULL at the start of the equation. */
static void describe_place(const struct parser *p, const struct token *prev,
                           const struct token *t, char *buf, size_t cap)
{
    char a[2 * TOKEN_SHOWN + 2], f[2 * TOKEN_SHOWN + 2];
    struct sbuf b = sb_on(buf, cap);
    if (prev) sb_printf(&b, " after '%s'", tok_text(p, prev, a, sizeof a));
    if (t->kind == T_END)
        sb_printf(&b, " at column %zu (end of equation)", t->off + 1);
    else
        sb_printf(&b, " but found '%s' at column %zu", tok_text(p, t, f, sizeof f),
                  t->off + 1);
}

static ab_status expected_operand(const struct parser *p, const struct token *prev,
                                  const struct token *t)
{
    char place[512];
    if (!prev && t->kind == T_END)
        return fail_at(p->text, p->len, 0,
                       "empty equation at column 1; write a metric name or a "
                       "formula such as (acc*100)/latency_gpu");
    describe_place(p, prev, t, place, sizeof place);
    return fail_at(p->text, p->len, t->off,
                   "expected a number, metric name, '(' or function%s", place);
}

static ab_status expected_operator(const struct parser *p, const struct token *prev,
                                   const struct token *t)
{
    const struct frame *g = innermost_group(p);
    const char *what = !g                ? "an operator or the end of the equation"
                       : g->kind == F_CALL ? "an operator, ',' or ')'"
                                           : "an operator or ')'";
    char place[512];
    describe_place(p, prev, t, place, sizeof place);
    return fail_at(p->text, p->len, t->off, "expected %s%s", what, place);
}

static ab_status bad_char(const struct parser *p, const struct token *t)
{
    char c[8];
    struct sbuf b = sb_on(c, sizeof c);
    sb_escaped(&b, p->text + t->off, 1);
    return fail_at(p->text, p->len, t->off, "unexpected character '%s' at column %zu",
                   c, t->off + 1);
}

/* A token where a value must start. */
static ab_status operand_token(struct parser *p, const struct token *prev,
                               const struct token *t, bool *want_operand)
{
    ab_status rc = AB_OK;
    struct frame f = {.tok = *t};
    int var = -1;
    switch (t->kind) {
    case T_NUM:
        AB_CALL(emit(p, OP_CONST, 0, t->num));
        *want_operand = false;
        break;
    case T_NAME:
        if (t->prefix > 0) AB_CALL(prefixed_name(p, t));
        AB_CALL(intern_var(p, t, &var));
        AB_CALL(emit(p, OP_VAR, var, 0.0));
        *want_operand = false;
        break;
    case T_CALL:
        f.kind = F_CALL;
        f.fn = find_func(p->text + t->off + t->prefix, t->len - t->prefix);
        if (!f.fn) AB_CALL(unknown_func(p, t));
        AB_CALL(push(p, f));
        break;
    case T_LPAREN:
        f.kind = F_PAREN;
        AB_CALL(push(p, f));
        break;
    case T_MINUS:
        f.kind = F_OP;
        f.op = OP_NEG;
        f.prec = PREC_NEG;
        AB_CALL(push(p, f));
        break;
    case T_PLUS: /* unary plus changes nothing */
        break;
    case T_RPAREN:
        if (prev && prev->kind == T_CALL && p->n_stack > 0 &&
            p->stack[p->n_stack - 1].kind == F_CALL)
            AB_CALL(arity_error(p, &p->stack[p->n_stack - 1]));
        AB_CALL(expected_operand(p, prev, t));
        break;
    default:
        AB_CALL(expected_operand(p, prev, t));
        break;
    }
cleanup:
    return rc;
}

static ab_status binary_op(struct parser *p, const struct token *t)
{
    struct frame f = {.kind = F_OP, .tok = *t};
    bool right_assoc = false;
    switch (t->kind) {
    case T_PLUS: f.op = OP_ADD; f.prec = PREC_ADD; break;
    case T_MINUS: f.op = OP_SUB; f.prec = PREC_ADD; break;
    case T_STAR: f.op = OP_MUL; f.prec = PREC_MUL; break;
    case T_SLASH: f.op = OP_DIV; f.prec = PREC_MUL; break;
    default: f.op = OP_POW; f.prec = PREC_POW; right_assoc = true; break;
    }
    AB_TRY(reduce(p, f.prec, right_assoc));
    return push(p, f);
}

/* Emits and pops all operators above the innermost open group; *group is
 * that group, NULL when none is open. */
static ab_status pop_to_group(struct parser *p, struct frame **group)
{
    while (p->n_stack > 0 && p->stack[p->n_stack - 1].kind == F_OP) {
        AB_TRY(emit(p, p->stack[p->n_stack - 1].op, 0, 0.0));
        p->n_stack--;
    }
    *group = p->n_stack > 0 ? &p->stack[p->n_stack - 1] : NULL;
    return AB_OK;
}

static ab_status close_group(struct parser *p, const struct token *t)
{
    struct frame *g;
    AB_TRY(pop_to_group(p, &g));
    if (!g)
        return fail_at(p->text, p->len, t->off,
                       "unmatched ')' at column %zu: no '(' is open there",
                       t->off + 1);
    if (g->kind == F_CALL) {
        g->argc++;
        if (g->argc < g->fn->min_args || g->argc > g->fn->max_args)
            return arity_error(p, g);
        AB_TRY(emit(p, g->fn->op, g->argc, 0.0));
    }
    p->n_stack--;
    p->n_groups--;
    return AB_OK;
}

static ab_status comma(struct parser *p, const struct token *t)
{
    struct frame *g;
    AB_TRY(pop_to_group(p, &g));
    if (!g || g->kind != F_CALL)
        return fail_at(p->text, p->len, t->off,
                       "',' at column %zu is not inside the argument list of "
                       "a function",
                       t->off + 1);
    g->argc++;
    return AB_OK;
}

static ab_status finish(struct parser *p, const struct token *t)
{
    struct frame *g;
    char open[2 * TOKEN_SHOWN + 2];
    AB_TRY(pop_to_group(p, &g));
    if (g)
        return fail_at(p->text, p->len, g->tok.off,
                       "'%s' at column %zu is never closed: add ')' before "
                       "the end of the equation at column %zu",
                       tok_text(p, &g->tok, open, sizeof open), g->tok.off + 1,
                       t->off + 1);
    return AB_OK;
}

/* A token after a complete value. */
static ab_status operator_token(struct parser *p, const struct token *prev,
                                const struct token *t, bool *want_operand)
{
    switch (t->kind) {
    case T_PLUS:
    case T_MINUS:
    case T_STAR:
    case T_SLASH:
    case T_POW:
        *want_operand = true;
        return binary_op(p, t);
    case T_RPAREN: return close_group(p, t);
    case T_COMMA:
        *want_operand = true;
        return comma(p, t);
    case T_END: return finish(p, t);
    default: return expected_operator(p, prev, t);
    }
}

static ab_status parse_tokens(struct parser *p)
{
    ab_status rc = AB_OK;
    bool want_operand = true, have_prev = false;
    struct token t, prev;
    for (;;) {
        AB_CALL(lex(p, &t));
        if (t.kind == T_BAD) AB_CALL(bad_char(p, &t));
        if (want_operand)
            AB_CALL(operand_token(p, have_prev ? &prev : NULL, &t, &want_operand));
        else
            AB_CALL(operator_token(p, &prev, &t, &want_operand));
        if (t.kind == T_END) break;
        prev = t;
        have_prev = true;
    }
cleanup:
    return rc;
}

ab_status ab_equation_parse(const char *text, struct ab_equation **out)
{
    ab_status rc = AB_OK;
    struct parser p = {0};
    struct ab_equation *eq = NULL;
    struct insn *fit;
    AB_ASSERT(out != NULL);
    *out = NULL;
    AB_ASSERT(text != NULL);
    p.text = text;
    p.len = strlen(text);
    if (p.len > AB_EQUATION_MAX_LEN)
        AB_CALL(fail_at(text, p.len, 0,
                        "the equation is %zu characters long; at most %d are "
                        "allowed (column %d is past the limit)",
                        p.len, AB_EQUATION_MAX_LEN, AB_EQUATION_MAX_LEN + 1));
    eq = calloc(1, sizeof *eq);
    AB_CHECK_ALLOC(eq);
    eq->bound_cols = -1;
    eq->len = p.len;
    eq->text = strdup(text);
    AB_CHECK_ALLOC(eq->text);
    /* Every token emits at most one instruction and pushes at most one
     * frame, and every token but the end takes at least one byte. */
    eq->code = malloc((p.len + 1) * sizeof *eq->code);
    AB_CHECK_ALLOC(eq->code);
    p.code_cap = (int)p.len + 1;
    p.stack = malloc((p.len + 1) * sizeof *p.stack);
    AB_CHECK_ALLOC(p.stack);
    p.c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    AB_CHECK_ALLOC(p.c_locale);
    p.eq = eq;
    AB_CALL(parse_tokens(&p));
    AB_ASSERT(p.depth == 1 && p.n_stack == 0 && eq->n_code > 0);
    fit = realloc(eq->code, (size_t)eq->n_code * sizeof *fit);
    if (fit) eq->code = fit;
    *out = eq;
    eq = NULL;
cleanup:
    if (p.c_locale) freelocale(p.c_locale);
    free(p.stack);
    ab_equation_destroy(&eq);
    return rc;
}

/* ---- binding ----------------------------------------------------------- */

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

/* Levenshtein distance ignoring case; SIZE_MAX for names over 64 bytes. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64) return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The column named name, or -1. */
static int find_column(const char *const *names, int n_names, const char *name)
{
    for (int i = 0; i < n_names; i++)
        if (names[i] && strcmp(names[i], name) == 0) return i;
    return -1;
}

static ab_status unknown_metric(const struct ab_equation *eq, const struct eq_var *v,
                                const char *const *names, int n_names)
{
    char known[384], hint[160], name[2 * TOKEN_SHOWN];
    struct sbuf k = sb_on(known, sizeof known), h = sb_on(hint, sizeof hint);
    struct sbuf nb = sb_on(name, sizeof name);
    size_t la = strlen(v->name), best = SIZE_MAX;
    int best_i = -1, shown = 0;
    sb_cut(&nb, v->name, la, TOKEN_SHOWN);
    for (int i = 0; i < n_names; i++) {
        size_t d;
        if (!names[i]) continue;
        d = edit_distance(v->name, names[i]);
        if (d < best) {
            best = d;
            best_i = i;
        }
    }
    if (best_i >= 0 && best <= (la <= 4 ? 1u : 2u)) {
        sb_printf(&h, " (did you mean '");
        sb_cut(&h, names[best_i], strlen(names[best_i]), TOKEN_SHOWN);
        sb_printf(&h, "'?)");
    }
    for (int i = 0; i < n_names; i++) {
        size_t n;
        if (!names[i]) continue;
        n = strlen(names[i]);
        if (k.n + (n < TOKEN_SHOWN ? n : TOKEN_SHOWN) + 40 >= k.cap) {
            sb_printf(&k, ", ... (%d more)", n_names - i);
            break;
        }
        if (shown++ > 0) sb_printf(&k, ", ");
        sb_cut(&k, names[i], n, TOKEN_SHOWN);
    }
    if (shown == 0) sb_printf(&k, "(none)");
    return fail_at(eq->text, eq->len, v->off,
                   "unknown metric '%s' at column %zu%s; known metrics: %s", name,
                   v->off + 1, hint, known);
}

ab_status ab_equation_bind(struct ab_equation *eq, const char *const *names, int n_names)
{
    ab_status rc = AB_OK;
    AB_ASSERT(eq != NULL);
    AB_ASSERT(n_names >= 0 && (names != NULL || n_names == 0));
    eq->bound_cols = -1;
    for (int v = 0; v < eq->n_vars; v++) {
        eq->vars[v].col = find_column(names, n_names, eq->vars[v].name);
        if (eq->vars[v].col < 0) AB_CALL(unknown_metric(eq, &eq->vars[v], names, n_names));
    }
    for (int i = 0; i < eq->n_code; i++)
        if (eq->code[i].op == OP_VAR) eq->code[i].col = eq->vars[eq->code[i].n].col;
    eq->bound_cols = n_names;
cleanup:
    return rc;
}

/* ---- evaluation -------------------------------------------------------- */

/* min and max that return NaN when either argument is NaN (like
 * numpy.minimum), so that a bad value is never silently dropped. */
static inline double min2(double a, double b) { return (a < b || isnan(a)) ? a : b; }
static inline double max2(double a, double b) { return (a > b || isnan(a)) ? a : b; }

/* Runs the program on one row. values is indexed by data column. */
static inline double run(const struct ab_equation *eq, const double *values)
{
    double st[EVAL_STACK_MAX];
    int sp = 0; /* values on the stack */
    for (const struct insn *in = eq->code, *end = in + eq->n_code; in < end; in++) {
        switch (in->op) {
        case OP_CONST: st[sp++] = in->val; break;
        case OP_VAR: st[sp++] = values[in->col]; break;
        case OP_NEG: st[sp - 1] = -st[sp - 1]; break;
        case OP_ADD: sp--; st[sp - 1] += st[sp]; break;
        case OP_SUB: sp--; st[sp - 1] -= st[sp]; break;
        case OP_MUL: sp--; st[sp - 1] *= st[sp]; break;
        case OP_DIV: sp--; st[sp - 1] /= st[sp]; break;
        case OP_POW: sp--; st[sp - 1] = pow(st[sp - 1], st[sp]); break;
        case OP_LOG: st[sp - 1] = log(st[sp - 1]); break;
        case OP_LOG10: st[sp - 1] = log10(st[sp - 1]); break;
        case OP_LOG2: st[sp - 1] = log2(st[sp - 1]); break;
        case OP_EXP: st[sp - 1] = exp(st[sp - 1]); break;
        case OP_SQRT: st[sp - 1] = sqrt(st[sp - 1]); break;
        case OP_ABS: st[sp - 1] = fabs(st[sp - 1]); break;
        case OP_MIN:
            for (int k = 1; k < in->n; k++) {
                sp--;
                st[sp - 1] = min2(st[sp - 1], st[sp]);
            }
            break;
        case OP_MAX:
            for (int k = 1; k < in->n; k++) {
                sp--;
                st[sp - 1] = max2(st[sp - 1], st[sp]);
            }
            break;
        }
    }
    return st[0];
}

static ab_status check_bound(const struct ab_equation *eq)
{
    if (eq->bound_cols >= 0) return AB_OK;
    return ab_err_set(AB_ERR_INTERNAL,
                      "internal error: label equation evaluated before "
                      "ab_equation_bind() at %s:%d; please report this",
                      __FILE__, __LINE__);
}

ab_status ab_equation_eval(const struct ab_equation *eq, const double *values, double *out)
{
    ab_status rc = AB_OK;
    AB_ASSERT(eq != NULL && out != NULL);
    AB_CALL(check_bound(eq));
    AB_ASSERT(values != NULL || eq->n_vars == 0);
    *out = run(eq, values);
cleanup:
    return rc;
}

/* Shortest of %.15g and %.17g that reads back as x. */
static void sb_double(struct sbuf *b, double x)
{
    char s[40];
    snprintf(s, sizeof s, "%.15g", x);
    if (!isnan(x) && strtod(s, NULL) != x) snprintf(s, sizeof s, "%.17g", x);
    sb_printf(b, "%s", s);
}

static ab_status refuse_row(const struct ab_equation *eq, const double *row, long row_no,
                            double y)
{
    char vals[448];
    struct sbuf b = sb_on(vals, sizeof vals);
    const char *what = isnan(y) ? "NaN" : y > 0 ? "inf" : "-inf";
    for (int v = 0; v < eq->n_vars; v++) {
        if (b.n + TOKEN_SHOWN + 48 >= b.cap) {
            sb_printf(&b, ", ... (%d more)", eq->n_vars - v);
            break;
        }
        sb_printf(&b, "%s", v == 0 ? " (" : ", ");
        sb_cut(&b, eq->vars[v].name, strlen(eq->vars[v].name), TOKEN_SHOWN);
        sb_printf(&b, "=");
        sb_double(&b, row[eq->vars[v].col]);
    }
    if (eq->n_vars > 0) sb_printf(&b, ")");
    return fail_at(eq->text, eq->len, 0, "row %ld gives %s%s; fix the data or the equation",
                   row_no, what, vals);
}

ab_status ab_equation_eval_rows(const struct ab_equation *eq, const double *rows, long n_rows,
                                int n_cols, long row_base, double *out)
{
    ab_status rc = AB_OK;
    AB_ASSERT(eq != NULL && n_rows >= 0);
    AB_CALL(check_bound(eq));
    AB_CHECK(n_cols == eq->bound_cols, AB_ERR_INTERNAL,
             "internal error: label equation rows have %d columns but the "
             "equation was bound to %d names at %s:%d; please report this",
             n_cols, eq->bound_cols, __FILE__, __LINE__);
    AB_ASSERT(n_rows == 0 || (out != NULL && (rows != NULL || eq->n_vars == 0)));
    for (long i = 0; i < n_rows; i++) {
        const double *row = rows ? rows + i * n_cols : NULL;
        double y = run(eq, row);
        if (!isfinite(y)) AB_CALL(refuse_row(eq, row, row_base + i + 1, y));
        out[i] = y;
    }
cleanup:
    return rc;
}

/* ---- accessors and lifecycle ------------------------------------------- */

int ab_equation_n_vars(const struct ab_equation *eq) { return eq ? eq->n_vars : 0; }

const char *ab_equation_var(const struct ab_equation *eq, int i)
{
    if (!eq || i < 0 || i >= eq->n_vars) return NULL;
    return eq->vars[i].name;
}

const char *ab_equation_text(const struct ab_equation *eq) { return eq ? eq->text : NULL; }

void ab_equation_destroy(struct ab_equation **eq)
{
    struct ab_equation *e;
    if (!eq || !*eq) return;
    e = *eq;
    for (int i = 0; i < e->n_vars; i++) free(e->vars[i].name);
    free(e->vars);
    free(e->code);
    free(e->text);
    free(e);
    *eq = NULL;
}
