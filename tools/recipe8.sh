# The 8-style fast-net recipe shared by the training campaigns (sourced, not run): issue 12's objective as
# it stands since session 8 (relu1_2 Gram x0.25, content relu2_2 x12, style x10, tv x2, light-layout x4;
# 256 px training images and style targets, bf16 autocast), the 8 built-in styles and the 4 held-out photos.
A=assets/styles
H=cache/corpus/holdout
RECIPE8=(
  --content-dir cache/corpus/content
  --style-images $A/starry.jpg $A/wave.jpg $A/kandinsky.jpg $A/night_cafe.jpg $A/snow.jpg $A/moulin.jpg $A/harvesters.jpg $A/tanguy.jpg
  --style-layer-weights 0.25 1 1 1
  --image-size 256 --style-size 256 --batch-size 2 --content-weight 12 --tv-weight 2 --layout-weight 4
  --warmup-steps 0 --amp auto
  --holdout $H/cv_baboon.jpg $H/cv_building.jpg $H/cv_fruits.jpg $H/cv_HappyFish.jpg
  --sample-every 500 --checkpoint-every 250 --log-every 10
)

# campaign8 WIDTH NAME SECONDS LR [EXPORT ARGS...]: resume runs/NAME/last.pt (seeded from
# assets/checkpoints/NAME_last.pt), train for SECONDS with this recipe, export assets/models/NAME.onnx
campaign8() {
  local width=$1 name=$2 budget=$3 lr=$4
  shift 4
  mkdir -p "runs/$name"
  if [ ! -f "runs/$name/last.pt" ] && [ -f "assets/checkpoints/${name}_last.pt" ]; then
    cp "assets/checkpoints/${name}_last.pt" "runs/$name/last.pt"
  fi
  python -m training fast "${RECIPE8[@]}" --width "$width" --lr "$lr" --out-dir "runs/$name" --time-budget-s "$budget"
  python -m export fast "runs/$name/last.pt" "assets/models/$name.onnx" "$@"
}
