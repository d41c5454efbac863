/*===- Parser.y - Bison grammar for .attn files ----------------------------===*
 *
 * LALR(1) C++ parser (lalr1.cc, variant semantic values, locations). Builds
 * the AST of frontend/AST.h; statement-level and variant-level `error`
 * productions let one parse report several syntax errors. Checks that need
 * only syntax (duplicate statements, statement and norm names, depth of
 * expressions) are done here; everything else is Sema's.
 *
 *===----------------------------------------------------------------------===*/
%require "3.8"
%language "c++"
%skeleton "lalr1.cc"

%define api.namespace {attn::detail}
%define api.parser.class {Parser}
%define api.value.type variant
%define api.token.constructor
%define api.token.prefix {TOK_}
%define parse.error custom
%define parse.lac full
%define parse.assert false
%locations

%param {yyscan_t scanner} {attn::detail::ParseContext &ctx}

%code requires {
#include "frontend/AST.h"

#include <cstdint>
#include <string>
#include <vector>

typedef void *yyscan_t;
namespace attn::detail {
struct ParseContext;
/// The right-hand side of `norm = ...` while it is being parsed.
struct NormSyntax {
  ast::NormSpec spec;
};
} // namespace attn::detail
}

%code {
#include "frontend/ParseContext.h"

#include <algorithm>

using namespace attn;
using namespace attn::ast;

#define yylex attn::detail::lex

namespace {

SourceRange R(const attn::detail::location &l) {
  return attn::detail::ParseContext::range(l);
}

/// Makes a node, recording its depth; past kMaxExprDepth, reports once per
/// statement and returns a harmless literal instead (dropping the subtree).
ExprPtr mk(attn::detail::ParseContext &ctx, ExprKind kind,
           const attn::detail::location &l, std::vector<ExprPtr> args = {}) {
  unsigned d = 1;
  for (auto &a : args) {
    auto it = ctx.depth.find(a.get());
    d = std::max(d, (it == ctx.depth.end() ? 1u : it->second) + 1);
  }
  if (d > attn::detail::kMaxExprDepth) {
    if (!ctx.depthReported)
      ctx.error(l, "expression is nested too deeply (more than " +
                       std::to_string(attn::detail::kMaxExprDepth) + " levels)");
    ctx.depthReported = true;
    auto e = std::make_unique<Expr>(ExprKind::IntLit, R(l));
    ctx.depth[e.get()] = 1;
    return e;
  }
  auto e = std::make_unique<Expr>(kind, R(l));
  e->args = std::move(args);
  ctx.depth[e.get()] = d;
  return e;
}

ExprPtr mkBinary(attn::detail::ParseContext &ctx, OpKind op,
                 const attn::detail::location &l, ExprPtr a, ExprPtr b) {
  std::vector<ExprPtr> args;
  args.push_back(std::move(a));
  args.push_back(std::move(b));
  auto e = mk(ctx, ExprKind::Binary, l, std::move(args));
  if (e->kind == ExprKind::Binary)
    e->op = op;
  return e;
}

Variant *current(attn::detail::ParseContext &ctx) {
  return ctx.module.variants.empty() ? nullptr : &ctx.module.variants.back();
}

/// Stores a score/bias/mask/scale statement, diagnosing duplicates.
void setSingle(attn::detail::ParseContext &ctx, const std::string &name,
               const attn::detail::location &nameLoc, ExprPtr value) {
  Variant *v = current(ctx);
  if (!v)
    return;
  std::optional<SingleStmt> *slot = nullptr;
  if (name == "score")
    slot = &v->score;
  else if (name == "bias")
    slot = &v->bias;
  else if (name == "mask")
    slot = &v->mask;
  else if (name == "scale")
    slot = &v->scale;
  if (!slot) {
    ctx.error(nameLoc, "unknown statement '" + name +
                           "'; expected score, bias, mask, scale or norm "
                           "(use 'let " + name + " = ...;' to name an expression)");
    return;
  }
  if (*slot) {
    ctx.error(nameLoc, "duplicate '" + name + "' statement in variant '" +
                           v->name + "'");
    ctx.note((*slot)->loc, "previous '" + name + "' statement is here");
    return;
  }
  SingleStmt s;
  s.loc = R(nameLoc);
  s.value = std::move(value);
  *slot = std::move(s);
}

bool parseNormName(const std::string &n, NormKind &k) {
  static const std::pair<const char *, NormKind> kNames[] = {
      {"softmax", NormKind::Softmax}, {"sigmoid", NormKind::Sigmoid},
      {"relu", NormKind::Relu},       {"relu2", NormKind::Relu2},
      {"softplus", NormKind::Softplus}, {"linear", NormKind::Linear},
      {"none", NormKind::None}};
  for (auto &p : kNames)
    if (n == p.first) {
      k = p.second;
      return true;
    }
  return false;
}

bool parseDeclType(attn::detail::ParseContext &ctx, const std::string &n,
                   const attn::detail::location &l, DeclType &t) {
  if (n == "i32")
    t = DeclType::I32;
  else if (n == "f32")
    t = DeclType::F32;
  else if (n == "bool")
    t = DeclType::Bool;
  else {
    ctx.error(l, "unknown type '" + n + "'; expected i32, f32 or bool");
    return false;
  }
  return true;
}

} // namespace
}

%token END 0 "end of file"
%token VARIANT "'variant'" PARAM "'param'" TENSOR "'tensor'" LET "'let'"
       NORM "'norm'" CUSTOM "'custom'" SUM "'sum'" TRUE "'true'" FALSE "'false'"
%token <std::string> IDENT "identifier"
%token <int64_t> INT "integer literal"
%token <double> FLOAT "float literal"
%token EQEQ "'=='" NE "'!='" LE "'<='" GE "'>='" ANDAND "'&&'" OROR "'||'"
       LT "'<'" GT "'>'" PLUS "'+'" MINUS "'-'" STAR "'*'" SLASH "'/'"
       PERCENT "'%'" NOT "'!'" QUESTION "'?'" COLON "':'" SEMI "';'"
       COMMA "','" LPAREN "'('" RPAREN "')'" LBRACK "'['" RBRACK "']'"
       LBRACE "'{'" RBRACE "'}'" ASSIGN "'='"

%type <attn::ast::ExprPtr> expr primary
%type <std::vector<attn::ast::ExprPtr>> args args_opt
%type <std::vector<attn::ast::TensorDim>> dims
%type <attn::ast::TensorDim> dim
%type <attn::detail::NormSyntax> normspec

%right QUESTION COLON
%left OROR
%left ANDAND
%left EQEQ NE
%left LT LE GT GE
%left PLUS MINUS
%left STAR SLASH PERCENT
%precedence UNARY

%%

module
  : %empty
  | module variant
  | module error RBRACE { yyerrok; }
  ;

variant_head
  : VARIANT IDENT LBRACE {
      Variant v;
      v.name = $2;
      v.loc = R(@2);
      ctx.module.variants.push_back(std::move(v));
    }
  ;

variant
  : variant_head stmts RBRACE
  | variant_head stmts error RBRACE { yyerrok; }
  ;

stmts
  : %empty
  | stmts stmt { ctx.depthReported = false; }
  | stmts error SEMI { yyerrok; ctx.depthReported = false; }
  ;

stmt
  : PARAM IDENT COLON IDENT SEMI {
      ParamDecl p;
      p.name = $2;
      p.loc = R(@2);
      parseDeclType(ctx, $4, @4, p.type);
      current(ctx)->params.push_back(std::move(p));
    }
  | PARAM IDENT COLON IDENT ASSIGN expr SEMI {
      ParamDecl p;
      p.name = $2;
      p.loc = R(@2);
      parseDeclType(ctx, $4, @4, p.type);
      p.defaultValue = std::move($6);
      current(ctx)->params.push_back(std::move(p));
    }
  | TENSOR IDENT COLON IDENT LBRACK dims RBRACK SEMI {
      TensorDecl t;
      t.name = $2;
      t.loc = R(@2);
      parseDeclType(ctx, $4, @4, t.elemType);
      t.dims = std::move($6);
      current(ctx)->tensors.push_back(std::move(t));
    }
  | LET IDENT ASSIGN expr SEMI {
      LetDecl l;
      l.name = $2;
      l.loc = R(@2);
      l.value = std::move($4);
      current(ctx)->lets.push_back(std::move(l));
    }
  | IDENT ASSIGN expr SEMI { setSingle(ctx, $1, @1, std::move($3)); }
  | SEMI { ctx.diags.warning(R(@1), "extra ';'"); }
  | NORM ASSIGN normspec SEMI {
      Variant *v = current(ctx);
      if (v->norm) {
        ctx.error(@1, "duplicate 'norm' statement in variant '" + v->name + "'");
        ctx.note(v->norm->loc, "previous 'norm' statement is here");
      } else {
        v->norm = std::move($3.spec);
        v->norm->loc = R(@1);
      }
    }
  ;

dims
  : dim { $$.push_back(std::move($1)); }
  | dims COMMA dim { $$ = std::move($1); $$.push_back(std::move($3)); }
  ;

dim
  : IDENT { $$.sizeName = $1; $$.loc = R(@1); }
  | INT { $$.extent = $1; $$.loc = R(@1); }
  ;

normspec
  : IDENT {
      if (!parseNormName($1, $$.spec.kind))
        ctx.error(@1, "unknown normalization '" + $1 +
                          "'; expected softmax, softmax(sink = ...), sigmoid, "
                          "relu, relu2, softplus, linear, none or custom { ... }");
    }
  | IDENT LPAREN IDENT ASSIGN expr RPAREN {
      if ($1 != "softmax") {
        NormKind k;
        if (parseNormName($1, k))
          ctx.error(@1, "normalization '" + $1 + "' takes no options; only "
                        "softmax has one (softmax(sink = ...))");
        else
          ctx.error(@1, "unknown normalization '" + $1 + "'");
      } else if ($3 != "sink") {
        ctx.error(@3, "unknown softmax option '" + $3 + "'; the only option is 'sink'");
      } else {
        $$.spec.kind = NormKind::Softmax;
        $$.spec.sink = std::move($5);
      }
    }
  | custom_head assigns RBRACE {
      $$.spec.kind = NormKind::Custom;
      $$.spec.custom = std::move(ctx.customStack.back());
      ctx.customStack.pop_back();
    }
  | custom_head assigns error RBRACE {
      yyerrok;
      $$.spec.kind = NormKind::Custom;
      $$.spec.custom = std::move(ctx.customStack.back());
      ctx.customStack.pop_back();
    }
  ;

custom_head
  : CUSTOM LBRACE { ctx.customStack.emplace_back(); }
  ;

assigns
  : %empty
  | assigns IDENT ASSIGN expr SEMI {
      NormAssign a;
      a.name = $2;
      a.loc = R(@2);
      a.value = std::move($4);
      ctx.customStack.back().push_back(std::move(a));
      ctx.depthReported = false;
    }
  | assigns error SEMI { yyerrok; ctx.depthReported = false; }
  ;

expr
  : expr QUESTION expr COLON expr {
      std::vector<ExprPtr> a;
      a.push_back(std::move($1));
      a.push_back(std::move($3));
      a.push_back(std::move($5));
      $$ = mk(ctx, ExprKind::Ternary, @$, std::move(a));
    }
  | expr OROR expr    { $$ = mkBinary(ctx, OpKind::Or, @$, std::move($1), std::move($3)); }
  | expr ANDAND expr  { $$ = mkBinary(ctx, OpKind::And, @$, std::move($1), std::move($3)); }
  | expr EQEQ expr    { $$ = mkBinary(ctx, OpKind::Eq, @$, std::move($1), std::move($3)); }
  | expr NE expr      { $$ = mkBinary(ctx, OpKind::Ne, @$, std::move($1), std::move($3)); }
  | expr LT expr      { $$ = mkBinary(ctx, OpKind::Lt, @$, std::move($1), std::move($3)); }
  | expr LE expr      { $$ = mkBinary(ctx, OpKind::Le, @$, std::move($1), std::move($3)); }
  | expr GT expr      { $$ = mkBinary(ctx, OpKind::Gt, @$, std::move($1), std::move($3)); }
  | expr GE expr      { $$ = mkBinary(ctx, OpKind::Ge, @$, std::move($1), std::move($3)); }
  | expr PLUS expr    { $$ = mkBinary(ctx, OpKind::Add, @$, std::move($1), std::move($3)); }
  | expr MINUS expr   { $$ = mkBinary(ctx, OpKind::Sub, @$, std::move($1), std::move($3)); }
  | expr STAR expr    { $$ = mkBinary(ctx, OpKind::Mul, @$, std::move($1), std::move($3)); }
  | expr SLASH expr   { $$ = mkBinary(ctx, OpKind::Div, @$, std::move($1), std::move($3)); }
  | expr PERCENT expr { $$ = mkBinary(ctx, OpKind::Mod, @$, std::move($1), std::move($3)); }
  | MINUS expr %prec UNARY {
      // Fold the sign into a literal operand so `-16` is one literal.
      if ($2->kind == ExprKind::IntLit && $2->ival == INT64_MIN &&
          ctx.minLiterals.erase({$2->loc.begin.line, $2->loc.begin.col})) {
        $$ = std::move($2); // -9223372036854775808
        $$->loc = R(@$);
      } else if ($2->kind == ExprKind::IntLit && $2->ival != INT64_MIN) {
        $$ = std::move($2);
        $$->ival = -$$->ival;
        $$->loc = R(@$);
      } else if ($2->kind == ExprKind::FloatLit) {
        $$ = std::move($2);
        $$->fval = -$$->fval;
        $$->loc = R(@$);
      } else {
        std::vector<ExprPtr> a;
        a.push_back(std::move($2));
        $$ = mk(ctx, ExprKind::Unary, @$, std::move(a));
        if ($$->kind == ExprKind::Unary)
          $$->op = OpKind::Neg;
      }
    }
  | NOT expr %prec UNARY {
      std::vector<ExprPtr> a;
      a.push_back(std::move($2));
      $$ = mk(ctx, ExprKind::Unary, @$, std::move(a));
      if ($$->kind == ExprKind::Unary)
        $$->op = OpKind::Not;
    }
  | primary { $$ = std::move($1); }
  ;

primary
  : INT { $$ = mk(ctx, ExprKind::IntLit, @$); $$->ival = $1; }
  | FLOAT { $$ = mk(ctx, ExprKind::FloatLit, @$); $$->fval = $1; }
  | TRUE { $$ = mk(ctx, ExprKind::BoolLit, @$); $$->ival = 1; }
  | FALSE { $$ = mk(ctx, ExprKind::BoolLit, @$); $$->ival = 0; }
  | IDENT { $$ = mk(ctx, ExprKind::Name, @$); $$->name = $1; }
  | IDENT LBRACK args RBRACK {
      $$ = mk(ctx, ExprKind::Index, @$, std::move($3));
      if ($$->kind == ExprKind::Index)
        $$->name = $1;
    }
  | IDENT LPAREN args_opt RPAREN {
      $$ = mk(ctx, ExprKind::Call, @$, std::move($3));
      if ($$->kind == ExprKind::Call)
        $$->name = $1;
    }
  | SUM LBRACK IDENT RBRACK LPAREN expr RPAREN {
      std::vector<ExprPtr> a;
      a.push_back(std::move($6));
      $$ = mk(ctx, ExprKind::SumD, @$, std::move(a));
      if ($$->kind == ExprKind::SumD)
        $$->name = $3;
    }
  | LPAREN expr RPAREN {
      $$ = std::move($2);
      // Keep the depth bookkeeping: parentheses add a level so that
      // `((((...))))` is bounded like any other nesting.
      auto it = ctx.depth.find($$.get());
      unsigned d = (it == ctx.depth.end() ? 1u : it->second) + 1;
      if (d > attn::detail::kMaxExprDepth) {
        if (!ctx.depthReported)
          ctx.error(@$, "expression is nested too deeply (more than " +
                            std::to_string(attn::detail::kMaxExprDepth) + " levels)");
        ctx.depthReported = true;
        $$ = mk(ctx, ExprKind::IntLit, @$);
      } else {
        ctx.depth[$$.get()] = d;
      }
    }
  ;

args_opt
  : %empty {}
  | args { $$ = std::move($1); }
  ;

args
  : expr { $$.push_back(std::move($1)); }
  | args COMMA expr { $$ = std::move($1); $$.push_back(std::move($3)); }
  ;

%%

namespace attn::detail {

void Parser::error(const location_type &l, const std::string &m) {
  ctx.error(l, m);
}

void Parser::report_syntax_error(const context &yyctx) const {
  const symbol_type &la = yyctx.lookahead();
  std::string got;
  switch (la.kind()) {
  case symbol_kind::S_IDENT:
    got = "identifier '" + la.value.as<std::string>() + "'";
    break;
  case symbol_kind::S_INT:
    got = "integer literal";
    break;
  case symbol_kind::S_FLOAT:
    got = "float literal";
    break;
  case symbol_kind::S_YYEMPTY:
    got = "input";
    break;
  default:
    got = symbol_name(la.kind());
    break;
  }
  symbol_kind_type expected[YYNTOKENS];
  int n = yyctx.expected_tokens(expected, YYNTOKENS);
  auto expects = [&](symbol_kind_type k) {
    return std::find(expected, expected + n, k) != expected + n;
  };
  // Missing closers and terminators are the common mistakes: name them and
  // point just after the previous token, like clang.
  location after(ctx.prevTokenEnd, ctx.prevTokenEnd);
  if (after.begin.line == 0)
    after = yyctx.location();
  after.end.column += 1;
  bool atEnd = la.kind() == symbol_kind::S_YYEOF;
  auto variantName = [&]() -> std::string {
    return ctx.module.variants.empty() ? "" : ctx.module.variants.back().name;
  };
  if (atEnd && expects(symbol_kind::S_RBRACE) && !expects(symbol_kind::S_RPAREN) &&
      !expects(symbol_kind::S_RBRACK)) {
    ctx.error(yyctx.location(), "expected '}' at end of file to close variant '" +
                                    variantName() + "'");
    if (!ctx.module.variants.empty())
      ctx.note(ctx.module.variants.back().loc, "variant '" + variantName() +
                                                   "' starts here");
    return;
  }
  // Mid-statement (not at the start of one, where 'param' would be expected).
  if (expects(symbol_kind::S_SEMI) && !expects(symbol_kind::S_PARAM) &&
      !expects(symbol_kind::S_RPAREN) && !expects(symbol_kind::S_RBRACK)) {
    ctx.error(after, "expected ';' after statement, got " + got);
    return;
  }
  bool closes = la.kind() == symbol_kind::S_SEMI ||
                la.kind() == symbol_kind::S_RBRACE || atEnd;
  if (closes && expects(symbol_kind::S_RPAREN)) {
    ctx.error(after, "expected ')', got " + got);
    return;
  }
  if (closes && expects(symbol_kind::S_RBRACK)) {
    ctx.error(after, "expected ']', got " + got);
    return;
  }
  std::string msg;
  if (n > 0 && n <= 3) {
    msg = "expected ";
    for (int i = 0; i < n; ++i) {
      if (i > 0)
        msg += i + 1 == n ? " or " : ", ";
      msg += symbol_name(expected[i]);
    }
    msg += ", got " + got;
  } else if (n > 3 && expects(symbol_kind::S_IDENT) && expects(symbol_kind::S_INT)) {
    msg = "expected an expression, got " + got;
  } else {
    msg = "unexpected " + got;
  }
  ctx.error(yyctx.location(), msg);
}

} // namespace attn::detail
