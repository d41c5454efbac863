#!/usr/bin/env python3
# Differential fuzzing of whole variants: generates random valid .attn variants from LANGUAGE.md's
# constructs (scores, scale, lets, biases with tables and params, masks, every norm, custom
# blocks), runs each on several shapes with `attnc run --target cpu --check` (compiled kernel)
# and `--target ref --check` (float64 cascade interpreter), and reports every run whose error
# against the direct float64 evaluation exceeds 1e-4 (cpu) / 1e-9 (ref, before rounding), every
# crash and every rejected variant.
#
#   python3 test/fuzz/variants.py SEED SECONDS      # attnc from $ATTNC_BUILD (default build/)
#
# Not part of ctest (it takes minutes); 713 variants / 5704 runs on 2026-11-25 found no compiler
# error (the only flags were `norm = linear` rows whose scores nearly cancel). Work files and the
# JSON summary go to $ATTNC_FUZZ_DIR (default /tmp/attnc-variant-fuzz).
import random, subprocess, os, re, sys, time, json
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BIN = os.path.join(os.environ.get('ATTNC_BUILD', os.path.join(_ROOT, 'build')), 'bin')
A=os.path.join(_BIN, 'attnc'); N=os.path.join(_BIN, 'attn-npy')
_OUT=os.environ.get('ATTNC_FUZZ_DIR', '/tmp/attnc-variant-fuzz')
W=os.path.join(_OUT, 'w'); os.makedirs(W, exist_ok=True)
ENV=dict(os.environ, ATTN_CACHE_DIR=os.path.join(_OUT, 'cache'))
SHAPES=[(1,2,1,5,37,8),(2,4,2,33,33,16),(1,2,2,1,70,8),(1,2,1,40,20,8)]
R=random.Random(int(sys.argv[1]) if len(sys.argv)>1 else 0)
DEADLINE=time.time()+float(sys.argv[2] if len(sys.argv)>2 else 700)

class V:
    def __init__(s):
        s.params={}; s.tensors={}; s.lets=[]; s.stmts=[]; s.n=0
    def param(s,t,default,runtime=None):
        s.n+=1; nm='p%d'%s.n; s.params[nm]=(t,default,runtime); return nm
    def tensor(s,nm,decl): s.tensors[nm]=decl; return nm

def iatom(v):
    return R.choice(['i','j','h','(j - i)','(i - j)','Skv','Sq','H','D','b','2','3','(i + 1)','(j + 2)'])
def iexpr(v,d=0):
    if d>1 or R.random()<0.4: return iatom(v)
    op=R.choice(['+','-','*','/','%','abs','min','max','clamp'])
    a=iexpr(v,d+1); b=iexpr(v,d+1)
    if op in '/%': return '(%s %s %d)'%(a,op,R.choice([2,3,4,5,-3]))
    if op=='abs': return 'abs(%s)'%a
    if op in ('min','max'): return '%s(%s, %s)'%(op,a,b)
    if op=='clamp': return 'clamp(%s, -5, 6)'%a
    return '(%s %s %s)'%(a,op,b)

def mask_atom(v):
    c=R.randrange(16)
    if c==0: return 'j <= i'
    if c==1: return 'j < i'
    if c==2:
        p=v.param('i32',R.choice([1,3,8]), R.choice([None,2,5,100])); return 'i - j < %s'%p
    if c==3: return 'abs(i - j) <= %d'%R.choice([0,2,7])
    if c==4: return 'j %% %d != %d'%(R.choice([2,3,4]),R.choice([0,1]))
    if c==5: return '(j / %d) <= (i / %d)'%((k:=R.choice([2,4,5])),k)
    if c==6: return '(i - j) %% %d == 0'%R.choice([2,3])
    if c==7:
        v.tensor('pfx','tensor pfx: i32[B];'); return 'j < pfx[b]'
    if c==8:
        v.tensor('doc','tensor doc: i32[B, Skv];'); return 'doc[b, j] == doc[b, clamp(i, 0, Skv - 1)]'
    if c==9: return 'h % 2 == 0'
    if c==10: return 'j >= Skv - %d'%R.choice([3,8,20])
    if c==11:
        p=v.param('bool','true',R.choice([None,'false','true'])); return p
    if c==12: return '(j - i) / %d >= -%d'%(R.choice([2,3]),R.choice([1,2,4]))
    if c==13: return '%s %s %s'%(iexpr(v),R.choice(['<','<=','>','>=','==','!=']),iexpr(v))
    if c==14: return 'min(i, %d) >= max(j, %d) - %d'%(R.choice([3,10]),R.choice([0,2]),R.choice([0,4]))
    return 'j != i'
def mask(v,d=0):
    if d>=2 or R.random()<0.45: return mask_atom(v)
    c=R.randrange(5)
    if c==0: return '!(%s)'%mask(v,d+1)
    if c in (1,2): return '(%s && %s)'%(mask(v,d+1),mask(v,d+1))
    return '(%s || %s)'%(mask(v,d+1),mask(v,d+1))

def bias_atom(v):
    c=R.randrange(18)
    if c==0:
        v.tensor('tab','tensor tab: f32[H, 8];'); return 'tab[h, clamp(j - i, -4, 3) + 4]'
    if c==1:
        v.tensor('sl','tensor sl: f32[H];'); return 'sl[h] * (j - i) * 0.05'
    if c==2: return '-exp2(-8.0 * (h + 1) / H) * abs(i - j) * 0.1'
    if c==3:
        p=v.param('f32',R.choice(['0.5','-0.25','1.0']),R.choice([None,'0.75','-1.5'])); return p
    if c==4: return '0.1 * ((j - i) / 3)'
    if c==5: return '0.2 * ((i - j) % 5)'
    if c==6: return '((i % 3 == 0) ? 0.5 : -0.5)'
    if c==7: return 'log(1 + abs(i - j)) * 0.2'
    if c==8: return 'sqrt(1.0 * (j + 1)) * 0.05'
    if c==9: return 'tanh(0.1 * (i - j))'
    if c==10: return 'min(1.0, 0.1 * j)'
    if c==11: return 'select(j > i, -0.7, 0.3)'
    if c==12: return '0.05 * %s'%iexpr(v)
    if c==13: return 'sigmoid(0.3 * (j - h)) - softplus(-1.0 * b)'
    if c==14: return '0.1 * floor((j - i) / 2.0) + 0.1 * ceil(i / 3.0)'
    if c==15: return 'rsqrt(1.0 + j) - exp(-0.1 * abs(j - i))'
    if c==16: return 'relu(0.1 * (i - j)) * -0.3'
    return '0.01 * log2(1.0 + H + j)'
def bias(v,d=0):
    if d>=2 or R.random()<0.5: return bias_atom(v)
    return '(%s %s %s)'%(bias(v,d+1),R.choice(['+','-','+','*']),bias(v,d+1))

SCORES=['qk','dot(q, k) * scale','sum[d](q[d] * k[d]) * scale','-sum[d]((q[d] - k[d]) * (q[d] - k[d])) * scale',
        '-sum[d](abs(q[d] - k[d])) * scale','qk * 2.0','dot(q, k) / D','CAP','CAP2']
POS_SCORES=['exp(qk)','1 + qk * qk','sum[d](q[d] * q[d] + k[d] * k[d]) + 1.0']
CUSTOM=[
 ['m = max_j(s);','z = sum_j(exp(s - m));','w = exp(s - m) / z;'],
 ['z = sum_j(relu(s));','w = relu(s) / (z + 1.0);'],
 ['m = max_j(s);','n = sum_j(abs(exp(s - m) - exp(-m)));','w = relu(exp(s - m) - exp(-m)) / (n + 0.5);'],
 ['m = max_j(s);','z = sum_j(exp(s - m));','w = exp(s - m) / (z + exp(-m));'],
 ['mn = min_j(s);','z = sum_j(s - mn + 1.0);','w = (s - mn + 1.0) / z;'],
 ['m = max_j(s);','w = exp(s - m);'],
 ['m = max_j(s);','z = sum_j(exp(s - m));','m2 = max_j(exp(s - m) / z);','w = exp(s - m) / z / m2;'],
 ['m = max_j(2.0 * s);','z = sum_j(exp(2.0 * s - m));','w = exp(2.0 * s - m) / z;'],
 ['z = sum_j(sigmoid(s));','w = sigmoid(s) / z;'],
 ['m = max_j(s);','mn = min_j(s);','z = sum_j(exp(s - m));','w = exp(s - m) / z * (1.0 + 0.1 * (m - mn));'],
 ['m1 = max_j(s);','m2 = max_j(-s);','z = sum_j(exp(s - m1) + exp(-s - m2));','w = (exp(s - m1) + exp(-s - m2)) / z;'],
]
def gen():
    v=V(); st=[]
    sc=R.choice(SCORES+[None,None])
    nm=R.choice(['softmax','softmax','sink','sigmoid','relu','relu2','softplus','linear','none','custom','custom','custom'])
    v.norm=nm
    if nm=='linear': sc=R.choice(POS_SCORES)
    if sc in ('CAP','CAP2'):
        p=v.param('f32',R.choice(['5.0','30.0','1.5']),R.choice([None,'2.0','0.5']))
        sc='%s * tanh(qk / %s)'%(p,p) if sc=='CAP' else '%s * tanh(dot(q, k) * scale / %s)'%(p,p)
    if sc: st.append('score = %s;'%sc)
    if R.random()<0.3:
        c=R.randrange(4)
        if c==0: st.append('scale = 0.5;')
        elif c==1: st.append('scale = 1.0 / D;')
        elif c==2: st.append('scale = rsqrt(D * 2.0);')
        else:
            p=v.param('f32','0.3',R.choice([None,'0.2'])); st.append('scale = %s;'%p)
    if R.random()<0.3:
        v.lets.append('let rel = j - i;')
        if R.random()<0.5:
            v.lets.append('let bk = clamp(rel, -4, 3) + 4;'); v.tensor('tab','tensor tab: f32[H, 8];')
            st.append('bias = tab[h, bk] + 0.01 * rel;')
        else: st.append('bias = 0.05 * (rel %% %d) - 0.02 * (rel / 4);'%R.choice([3,4,7]))
    elif R.random()<0.7: st.append('bias = %s;'%bias(v))
    if R.random()<0.8: st.append('mask = %s;'%mask(v))
    if nm=='sink':
        c=R.randrange(3)
        if c==0: v.tensor('sinks','tensor sinks: f32[H];'); e='sinks[h]'
        elif c==1: e=v.param('f32','0.5',R.choice([None,'-1.0']))
        else: e='0.0'
        st.append('norm = softmax(sink = %s);'%e)
    elif nm=='custom':
        st.append('norm = custom {\n    '+'\n    '.join(R.choice(CUSTOM))+'\n  };')
    elif nm!='softmax' or R.random()<0.5: st.append('norm = %s;'%nm)
    decl=[]
    for p,(t,d,_) in v.params.items(): decl.append('param %s: %s = %s;'%(p,t,d))
    decl+= list(v.tensors.values())
    body=decl+st; R.shuffle(body); body=body+v.lets if R.random()<0.3 else v.lets+body
    return v, 'variant fz {\n  '+'\n  '.join(body)+'\n}\n'

def npy(shape,seed,path,extra=()):
    subprocess.run([N,'rand','--shape',','.join(map(str,shape)),'--seed',str(seed),'-o',path,*extra],check=True,capture_output=True)

RX=re.compile(r'max abs error vs float64 reference: (\S+) \(output in f32; (\S+) before rounding(?:; lse (\S+))?\)')
fails=[]; nvar=0; nrun=0
while time.time()<DEADLINE:
    v,src=gen(); nvar+=1
    f='%s/v%d.attn'%(W,nvar); open(f,'w').write(src)
    for si,(B,H,Hkv,Sq,Skv,D) in enumerate(SHAPES):
        seed=nvar*10+si
        q,k,vv='%s/q%d.npy'%(W,si),'%s/k%d.npy'%(W,si),'%s/v%d.npy'%(W,si)
        npy((B,H,Sq,D),seed,q); npy((B,Hkv,Skv,D),seed+1,k); npy((B,Hkv,Skv,D),seed+2,vv)
        args=['--q',q,'--k',k,'--v',vv]
        for t in v.tensors:
            p='%s/%s%d.npy'%(W,t,si)
            if t=='tab': npy((H,8),seed+3,p)
            elif t=='sl': npy((H,),seed+4,p)
            elif t=='sinks': npy((H,),seed+5,p)
            elif t=='pfx': npy((B,),seed+6,p,('--int','--min','0','--max',str(Skv)))
            elif t=='doc': npy((B,Skv),seed+7,p,('--int','--min','0','--max','2'))
            args+=['--tensor','%s=%s'%(t,p)]
        for p,(t,d,rt) in v.params.items():
            if rt is not None and R.random()<0.6: args+=['--param','%s=%s'%(p,rt)]
        if R.random()<0.15 and Sq<=Skv: args+=['--q-offset',str(R.randrange(0,Skv-Sq+1))]
        if v.norm in ('softmax','sink') and R.random()<0.6: args+=['--lse','%s/lse.npy'%W]
        for tgt in ('cpu','ref'):
            cmd=[A,'run',f,'--variant','fz',*args,'-o','%s/o.npy'%W,'--target',tgt,'--check']
            nrun+=1
            try: r=subprocess.run(cmd,capture_output=True,text=True,env=ENV,timeout=120)
            except subprocess.TimeoutExpired: fails.append(dict(kind='timeout',src=src,shape=SHAPES[si],cmd=' '.join(cmd),out=''));continue
            out=r.stdout+r.stderr; m=RX.search(out); bad=None
            if r.returncode!=0: bad='rc=%d'%r.returncode
            elif not m: bad='no error line'
            else:
                e=float(m.group(1)) if tgt=='cpu' else float(m.group(2))
                lse=float(m.group(3)) if m.group(3) else 0.0
                lim=1e-4 if tgt=='cpu' else 1e-9
                if not (e<=lim): bad='%s err %g > %g'%(tgt,e,lim)
                elif not (lse<=lim): bad='%s lse err %g'%(tgt,lse)
            if bad:
                fails.append(dict(kind=bad,src=src,shape=SHAPES[si],cmd=' '.join(cmd),out=out))
                print('FAIL',nvar,SHAPES[si],tgt,bad,flush=True)
    if nvar%10==0: print('progress vars',nvar,'runs',nrun,'fails',len(fails),flush=True)
json.dump(dict(nvar=nvar,nrun=nrun,fails=fails),open(os.path.join(_OUT, 'result_%s.json'%(sys.argv[1] if len(sys.argv)>1 else 0)),'w'),indent=1)
print('DONE vars',nvar,'runs',nrun,'fails',len(fails))
