"""Random scanner streaks on an independent set's single-image pages (PIL): x uniform over the page, width 1-4 px,
grey 30-170, full length or from one edge over 55-90%; one vertical streak a page, every fourth page two.

    python3 tests/independent/random_streaks.py --set /work/eval/indep8200 --out /tmp/rstreak --seed 10
    phieu scan /tmp/rstreak/pages --out /tmp/o --no-crops --quiet --today 2026-12-03
    python3 /work/shared/forms/score.py --truth /tmp/rstreak/truth.jsonl --results /tmp/o/results.jsonl
"""
import argparse, json, os, random, numpy as np
from PIL import Image
ap = argparse.ArgumentParser()
ap.add_argument("--set", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--seed", type=int, default=10)
args = ap.parse_args()
SET = args.set; OUT = os.path.join(args.out, "pages"); os.makedirs(OUT, exist_ok=True)
rng = random.Random(args.seed)
truth=[]
for l in open(f'{SET}/truth.jsonl'):
    t=json.loads(l)
    if not t['path'].endswith(('.png','.jpg')) or t['page']!=1: continue
    im=Image.open(f"{SET}/{t['path']}"); im.load()
    a=np.asarray(im.convert('L') if im.mode not in ('RGB','L') else im).copy()
    h,w=a.shape[:2]
    for k in range(2 if rng.random()<0.25 else 1):
        x=rng.randrange(int(w*0.05), int(w*0.95)); sw=rng.randint(1,4); g=rng.randint(30,170)
        if rng.random()<0.5: y0,y1=0,h
        else:
            L=int(h*rng.uniform(0.55,0.9)); y0,y1=(0,L) if rng.random()<0.5 else (h-L,h)
        a[y0:y1, x:x+sw] = np.minimum(a[y0:y1, x:x+sw], g)
    n=t['path'].replace('/','_').rsplit('.',1)[0]+'.png'
    Image.fromarray(a).save(f'{OUT}/{n}')
    t2=dict(t); t2['path']=n; truth.append(t2)
with open(os.path.join(args.out, 'truth.jsonl'),'w') as f:
    for t in truth: f.write(json.dumps(t)+'\n')
print(len(truth))
