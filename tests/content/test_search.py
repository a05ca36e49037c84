"""Search quality floors on our own question set, abstention rules, and robustness to odd input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from content import search as search_module
from content.fold import fold
from content.loader import BUNDLED, read_path
from content.search import Entry, Ranking, Searcher
from content.tokenizer import Tokenizer

QUERIES = [json.loads(line)
           for line in (Path(__file__).parents[1] / "data" / "queries.jsonl").read_text("utf-8").splitlines()]
ARTICLES = read_path(BUNDLED).articles


def entries(skip: tuple[str, ...] = ()) -> list[Entry]:
    return [Entry(id=i + 1, ref=a.ref, title=a.title, crops=a.crops, keywords=a.keywords, summary=a.summary,
                  body=a.body, phrasings=a.questions)  # as the app builds them (entry_from_row)
            for i, a in enumerate(ARTICLES) if a.ref not in skip]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


@pytest.fixture(scope="module")
def searcher(tokenizer: Tokenizer) -> Searcher:
    s = Searcher(tokenizer)
    s.build(entries())
    return s


def answered_with(searcher: Searcher, text: str) -> str | None:
    """The article the search sends for `text`, or None when it declines."""
    result = searcher.search(text)
    return result.best.ref if result.answered and result.best is not None else None


def test_question_set_size() -> None:
    assert sum(1 for q in QUERIES if q["refs"]) >= 200
    assert sum(1 for q in QUERIES if not q["refs"]) >= 50
    refs = {a.ref for a in ARTICLES}
    assert all(set(q["refs"]) <= refs for q in QUERIES)


def test_own_set_floors(searcher: Searcher) -> None:
    answerable = [q for q in QUERIES if q["refs"]]
    unanswerable = [q for q in QUERIES if not q["refs"]]
    in_top3 = answered = 0
    for q in answerable:
        result = searcher.search(q["q"], limit=10)
        in_top3 += any(h.ref in q["refs"] for h in result.hits[:3])
        answered += result.answered
    wrongly = sum(searcher.search(q["q"]).answered for q in unanswerable)
    # Ranking floor, and the answer-or-abstain gate's floors at its operating point (these easy questions
    # were written before the gate learned to decline; benchmarks/answers.py measures the hard sets).
    assert in_top3 / len(answerable) >= 0.95
    assert answered / len(answerable) >= 0.65  # 0.69 measured: many of these never name the crop
    assert wrongly / len(unanswerable) <= 0.05


@pytest.mark.parametrize(("question", "ref"), [
    ("苞谷叶子发黄咋办", "maize-nitrogen-deficiency"),
    ("洋芋晚疫病咋治", "potato-late-blight"),
    ("土豆叶子上有轮纹斑", "potato-early-blight"),
    ("红苕窖里烂了", "sweetpotato-storage"),
    ("小猪拉稀咋个搞", "pig-piglet-diarrhea"),
])
def test_dialect_questions(searcher: Searcher, question: str, ref: str | None) -> None:
    result = searcher.search(question)
    assert result.answered
    assert result.best is not None
    if ref:
        assert result.best.ref == ref
    else:
        assert "蚜虫" in result.best.title


def test_aphids_without_a_crop_are_not_answered_with_another_crops_article(searcher: Searcher) -> None:
    result = searcher.search("腻虫咋个打")
    assert not result.answered or (result.best is not None and "蚜虫" in result.best.title)


def test_late_blight_is_never_answered_with_early_blight(tokenizer: Tokenizer) -> None:
    s = Searcher(tokenizer)
    s.build(entries(skip=("potato-late-blight",)))
    result = s.search("洋芋晚疫病")
    assert not result.answered
    assert result.reason == "topic_mismatch"


def test_crop_mismatch_is_not_answered(tokenizer: Tokenizer) -> None:
    s = Searcher(tokenizer)
    s.build(entries(skip=("rapeseed-sclerotinia",)))
    result = s.search("油菜菌核病咋防")
    assert not result.answered


@pytest.mark.parametrize("text", ["", "。。。！！", "?", "x" * 10_000, "苞谷" * 5000, "🌽🐷🍊" * 50,
                                  "'; DROP TABLE article; --", ".*+?[(", "\x00\x01", "abc 苞谷 ñ 123 مرحبا"])
def test_odd_input_never_raises(searcher: Searcher, text: str) -> None:
    result = searcher.search(text)
    assert isinstance(result.answered, bool)


def test_results_are_deterministic(tokenizer: Tokenizer) -> None:
    a, b = Searcher(tokenizer), Searcher(tokenizer)
    a.build(entries())
    b.build(list(reversed(entries())))
    for q in QUERIES[:80]:
        assert a.search(q["q"]) == b.search(q["q"])


@pytest.mark.parametrize(("text", "sign"), [
    ("茶叶新梢上有好多卷叶的虫 把叶子包起来", "有虫"),  # the summer-drought article has no pest
    ("母猪怀起小产了", "流产"),  # the farrowing-care article never says 流产
])
def test_a_sign_the_article_never_mentions_is_not_answered(searcher: Searcher, text: str, sign: str) -> None:
    result = searcher.search(text)
    assert not result.answered
    assert result.best is not None
    assert searcher._unshown_sign(text, searcher.entries[result.best.id]) == sign or result.reason != "sign_unshown"


def test_a_hollow_potato_is_answered_by_the_article_that_says_hollow(searcher: Searcher) -> None:
    text = "洋芋挖出来切开中间是空的 咋回事"
    harvest = next(e for e in searcher.entries.values() if e.ref == "potato-harvest")
    assert searcher._unshown_sign(text, harvest) == "空心"  # the potato-harvest article never says 空
    result = searcher.search(text)
    assert result.answered and result.best is not None and result.best.ref == "potato-hollow-heart"


def test_signs_the_article_shows_are_still_answered(searcher: Searcher) -> None:
    result = searcher.search("板栗空苞咋回事")
    assert result.answered and result.best is not None and result.best.ref == "chestnut-empty-bur"
    assert answered_with(searcher, "发霉玉米喂母猪会流产不") == "pig-moldy-feed"


def test_one_vague_sign_is_no_grave_diagnosis(searcher: Searcher) -> None:
    goose = searcher.search("鹅拉绿稀屎")
    assert not goose.answered  # green droppings alone do not make duck plague
    offered = [searcher.entries[i].ref for i in searcher.plausible("鹅拉绿稀屎", goose)]
    assert "duck-plague" not in offered  # not even as a close topic
    # Weak legs are one sign, however said: not duck plague.
    assert answered_with(searcher, "鸭子腿软站不起来") == "poultry-leg-weakness"
    assert answered_with(searcher, "鸭瘟疫苗好久打") == "duck-plague"
    several = searcher.search("鸡歪脖子 拉绿屎 死了好几只")
    assert several.answered and several.best is not None and "新城疫" in several.best.title


def test_a_negated_subject_is_not_said(searcher: Searcher) -> None:
    result = searcher.search("大牛拉稀好几天了 不是小牛")
    assert not result.answered or (result.best is not None and "犊牛" not in result.best.title)


def test_a_crop_no_article_covers_is_not_answered_with_another_crops_article(searcher: Searcher) -> None:
    """山楂 has no article; both 山楂 and peach trees 流胶, but the peach article does not answer for 山楂."""
    result = searcher.search("山楂树流胶咋办")
    assert not result.answered and result.reason == "crop_mismatch"


@pytest.mark.parametrize(("text", "ref"), [
    ("麦穗上好多腻虫", "wheat-aphid"),  # 麦穗 is wheat's
    ("冬天猪圈咋保暖", "pig-winter-housing"),  # 猪圈 is pigs'
    ("毛豆有虫 豆荚上有小洞 里面有虫屎", "soybean-pod-borer"),  # 毛豆 is soybean
])
def test_a_word_made_from_a_crops_name_names_the_crop(searcher: Searcher, text: str, ref: str) -> None:
    assert answered_with(searcher, text) == ref


def test_words_that_only_start_like_a_crop_name_none(searcher: Searcher) -> None:
    vocab = searcher.tokenizer.vocab
    assert vocab.crops_within("蚕豆") == ("蚕豆",)  # broad beans, not silkworms
    assert vocab.crops_within("荞麦") == ("荞麦",) and vocab.crop_within("荞麦地") == "荞麦"
    assert vocab.crops_within("马上") == () and vocab.crops_within("野猪") == ()
    assert "白菜" in vocab.crops_within("菜苗") and "辣椒" in vocab.crops_within("菜地")


@pytest.mark.parametrize(("text", "ref"), [
    ("🌽大斑病咋防", "maize-northern-leaf-blight"),  # an emoji names the crop
    ("大斑病啥时候打药", "maize-northern-leaf-blight"),  # 大斑病 is maize's alone: the crop went unsaid
    ("母猪人工授精咋输", "pig-artificial-insemination"),
    ("猪人工授精输几次", "pig-artificial-insemination"),  # only a sow is inseminated
    ("莲花白一亩栽好多苗", "veg-cabbage-spacing"),  # 莲花白 is 甘蓝, a crop of its own
])
def test_the_crop_or_subject_said_another_way(searcher: Searcher, text: str, ref: str) -> None:
    result = searcher.search(text)
    assert result.answered and result.best is not None and result.best.ref == ref, (result.reason, result.hits)


def test_a_pest_named_for_several_crops_still_needs_the_crop(searcher: Searcher) -> None:
    by_ref = {e.ref: e for e in searcher.entries.values()}
    assert not searcher._named_for(["蚜虫"], by_ref["maize-aphid"])
    assert not searcher._named_for(["炭疽病"], by_ref["tea-anthracnose"])  # tea's, walnut's, pepper's …
    assert searcher._named_for(["大斑病"], by_ref["maize-northern-leaf-blight"])
    assert not searcher._named_for(["斑病"], by_ref["maize-northern-leaf-blight"])  # as written, not near


def test_kinds_of_crop_and_leftovers(searcher: Searcher) -> None:
    vocab = searcher.tokenizer.vocab
    assert set(vocab.crops_within("粮食")) == {"玉米", "水稻", "小麦"}
    assert vocab.crops_within("苞谷芯") == ()  # a cob grows mushrooms: no maize question
    assert vocab.crops_within("包包白") == ("甘蓝",) and "甘蓝" in vocab.crops_within("菜苗")


def test_pus_is_shown_by_an_article_that_says_it(searcher: Searcher) -> None:
    entry = next(e for e in searcher.entries.values() if e.ref == "cattle-foot-rot")
    assert searcher._unshown_sign("牛蹄子烂了流脓", entry) == ""
    aphid = next(e for e in searcher.entries.values() if e.ref == "maize-aphid")
    assert searcher._unshown_sign("苞谷秆子上流脓", aphid) == "流脓"


def test_an_emoji_is_read_as_the_crop_it_shows(searcher: Searcher) -> None:
    assert fold("🍊树叶子卷了🌶️") == "橘子树叶子卷了辣椒"
    assert searcher.crops_asked(searcher.tokenizer.words("🐷拉稀咋办")) == {"生猪"}
    assert searcher.crops_asked(searcher.tokenizer.words("🥔🥔晚疫病")) == {"马铃薯"}


def test_a_crop_named_outright_outweighs_a_word_that_implies_a_whole_kind(searcher: Searcher) -> None:
    # 青虫 implies every vegetable; on konjac or sweet potato a big green caterpillar is another pest.
    assert searcher.crops_asked(searcher.tokenizer.words("魔芋叶子被大青虫吃了")) == {"魔芋"}
    big_green = searcher.search("魔芋叶子被大青虫吃了好多")  # a hawkmoth's caterpillar, not the cabbage worm
    assert big_green.best is not None and big_green.best.ref == "pest-hornworm"
    assert "白菜" in searcher.crops_asked(searcher.tokenizer.words("白菜上好多青虫"))
    # One crop implied stays beside one named: pig feed made of maize is about pigs.
    assert searcher.crops_asked(searcher.tokenizer.words("猪饲料 苞谷咋配")) == {"生猪", "玉米"}


@pytest.mark.parametrize("text", ["洋玉好久挖", "红韶施啥子肥", "猕候桃叶子边边焦了"])
def test_common_slips_in_crop_names_name_the_crop(searcher: Searcher, text: str) -> None:
    assert searcher.crops_asked(searcher.tokenizer.words(text)), text



def test_names_typed_by_sound_are_spelled_right(searcher: Searcher) -> None:
    def words(text: str) -> list[str]:
        return searcher.tokenizer.words(text, heard=True)

    assert "猕猴桃" in words("米猴桃冬天咋剪")  # jieba: 米/猴/桃
    assert "柑橘" in words("甘子皮发黑")  # 甘子: a word jieba has barely seen
    assert "红蜘蛛" in words("叶子背面有红知珠")
    # Real words and two common characters stay as typed: 老树 is an old tree, 买苗 buys seedlings.
    assert "老鼠" not in words("老树不结果") and "小麦" not in words("买苗栽")
    assert "柑橘" not in words("苞谷秆子还青的")  # 秆子 is a word: no 柑子
    # Two single characters alike in sound and tone are a crop's slip (板/力, 小/卖), unless all they
    # keep of it is the part its name ends in: 离树 is "from the tree", 压苗 presses seedlings down.
    assert "板栗" in words("板力打下来放几天就生霉了") and "小麦" in words("小卖穗子上好多虫")
    assert "梨" not in words("窝子离树好远") and "鸭" not in words("能不能自己压苗")


def test_the_small_of_an_animal_and_voice_fillers_weigh_nothing(searcher: Searcher) -> None:
    assert searcher.tokenizer.words("羊羔子拉稀 就是说是么回事 打么事药") == ["山羊", "腹泻", "打", "药"]


def test_the_share_of_an_articles_own_phrasing_a_question_says(searcher: Searcher) -> None:
    # 头回, 自己弄, 怕发炎 are the villager's own; 「小公猪多大阉最好」 is one of the castration article's questions.
    castration = next(e for e in searcher.entries.values() if e.ref == "pig-piglet-castration")
    said = searcher._phrase_share(searcher.tokenizer.words("小公猪多大阉最好 头回自己弄 怕发炎"), castration)
    assert said == 1.0
    assert 0.0 < searcher._phrase_share(searcher.tokenizer.words("刀口肿了"), castration) < 1.0  # 伤口肿, half said
    assert searcher._phrase_share(searcher.tokenizer.words("头回自己弄 怕发炎"), castration) == 0.0


def test_a_sibling_that_shows_the_sign_said_goes_before_one_that_never_mentions_it(searcher: Searcher) -> None:
    ids = {e.ref: e.id for e in searcher.entries.values()}
    harvest, rot, peach = ids["herb-tianma-harvest"], ids["herb-tianma-rot"], ids["peach-brown-rot"]
    ranked = Ranking([(harvest, 10.0), (rot, 9.0)])
    moved = searcher.by_signs_first("天麻挖出来好多都烂了", ranked)
    assert list(moved) == [(rot, 10.0), (harvest, 9.0)]  # the harvest article never says 烂; the scores stay
    assert searcher.by_signs_first("天麻啥时候挖", ranked) == ranked  # no sign said: no move
    other_crop = Ranking([(harvest, 10.0), (peach, 9.0)])
    assert searcher.by_signs_first("天麻挖出来好多都烂了", other_crop) == other_crop  # a sibling only


@pytest.mark.parametrize("text", ["鹌鹑不吃食 老缩着脖子", "天麻窝子里有白蚁", "段木种灵芝咋弄", "葡萄得了毛毡病咋办"])
def test_an_animal_crop_or_pest_no_article_covers_is_not_answered(searcher: Searcher, text: str) -> None:
    assert not searcher.search(text).answered, text


def test_dialect_fillers_weigh_nothing(searcher: Searcher) -> None:
    # 么样 (Hubei "how"), 老鼻子 (Henan "a lot"), 家人们 … say how, not what: they are dropped like 咋个.
    words = searcher.tokenizer.words("柑橘么样剪 虫子老鼻子了 家人们 求助 在线等")
    assert "样" not in words and "老鼻子" not in words and "求助" not in words and "家人们" not in words
    assert "柑橘" in words and "剪" in words


def test_a_pest_the_villager_says_it_is_not_does_not_count_as_named(searcher: Searcher) -> None:
    # 「不是蚜虫」: not the aphid article, and no refusal of the others for want of aphids.
    negated = searcher.search("桃树新叶子皱起鼓泡 发红发厚 不是蚜虫 翻过来没有虫")
    assert not (negated.answered and negated.best is not None and negated.best.ref == "peach-aphid")
    pear = searcher.search("梨树叶子发黑 不是蚜虫")
    assert pear.reason != "topic_mismatch" or (pear.best is not None and "蚜" in pear.best.title)
    # 「是不是黄龙病」 asks about it; it denies nothing.
    asked = searcher.search("橘子叶子黄一块绿一块 果子红鼻子 是不是黄龙病")
    assert asked.best is not None and asked.best.ref == "citrus-huanglongbing" and asked.reason != "topic_mismatch"


def test_the_disease_the_villager_says_it_is_not_is_not_sent(searcher: Searcher) -> None:
    result = searcher.search("黄瓜叶子有斑 不是霜霉病")
    assert not (result.answered and result.best is not None and result.best.ref == "veg-cucumber-downy-mildew")


def test_a_disease_said_to_be_unlike_the_one_asked_is_not_sent(searcher: Searcher) -> None:
    result = searcher.search("麦子白穗 茎基部黑了 跟纹枯病不一样")
    assert not (result.answered and result.best is not None and "纹枯" in result.best.title)


def test_a_cow_that_calved_is_a_cow(searcher: Searcher) -> None:
    cow = next(e for e in searcher.entries.values() if e.ref == "cattle-retained-placenta")
    assert searcher._subject_said("牛下了犊子 衣胞还没下来", cow)
    assert searcher._subject_said("牛下了崽衣胞没下", cow)  # only a cow that calved has an afterbirth
    assert not searcher._subject_said("牛拉稀不吃草", cow)


def test_a_sign_the_villager_denies_is_not_said(searcher: Searcher) -> None:
    assert "有虫" in searcher._said_signs("番茄屁股黑了一块 有虫眼")
    assert "有虫" not in searcher._said_signs("番茄屁股黑了一块 凹进去 不是虫咬的")


def test_naming_the_pest_an_article_is_headed_with_is_no_guess_at_the_grave_disease(searcher: Searcher) -> None:
    psyllid = next(e for e in searcher.entries.values() if e.ref == "citrus-psyllid")
    assert not searcher._guessed_grave("橘子嫩梢上有小虫 屁股翘起来 是木虱吗", psyllid)


def test_an_article_that_helps_prevent_a_grave_disease_does_not_diagnose_it(searcher: Searcher) -> None:
    # 「柑橘木虱的防治（防黄龙病）」 is about the psyllid: a text describing psyllids gets it, a yellowing tree not.
    assert answered_with(searcher, "橘子嫩芽上好多小虫子 屁股翘起 有白色絮絮") == "citrus-psyllid"
    assert not searcher.search("柑橘树叶子卷起来了咋搞").answered
    # The yellow-leaves article (fertiliser or roots), not the psyllid one.
    assert answered_with(searcher, "柑橘叶子发黄咋办") == "citrus-yellow-leaves"


def test_wen_for_the_plague_names_the_plague(searcher: Searcher) -> None:
    # 温 and 瘟 sound alike (wen): a keyboard's first choice for 猪瘟 is 猪温.
    words = searcher.tokenizer.words
    assert "非洲猪瘟" in words("隔壁村说是非洲猪温") and "新城疫" in words("鸡温疫苗")
    assert words("大棚温度高") == ["大棚", "温度", "高"]


def test_local_names_of_a_pest_a_fertiliser_and_wheat(searcher: Searcher) -> None:
    # 巢虫 is the wax moth, cut whole; 攻苞肥 is maize's 攻穗肥; 麦 cut alone (麦叶上一层白粉) is wheat.
    assert "巢虫" in searcher.tokenizer.words("巢虫咋治")
    assert answered_with(searcher, "巢虫咋治") == "bee-wax-moth"
    assert "攻穗肥" in searcher.tokenizer.words("苞谷攻苞肥好久下")
    assert searcher.crops_asked(searcher.tokenizer.words("麦叶上一层白粉 后来有小黑点")) == {"小麦"}
    assert "小麦" not in searcher.crops_asked(searcher.tokenizer.words("荞麦叶子发红"))
    assert searcher.tokenizer.vocab.crop_within("几只羊") == "山羊"  # a count cut together with the animal
    assert searcher.tokenizer.vocab.crop_within("几个人") is None
    assert "小麦" not in searcher.crops_asked(searcher.tokenizer.words("油菜地里看麦娘多"))  # a weed, not wheat
    assert searcher.crops_asked(searcher.tokenizer.words("毛梨子冬天咋剪")) == {"猕猴桃"}  # kiwi, by its local name


def test_signs_keep_a_new_article_to_its_own_problem(searcher: Searcher) -> None:
    # A horned green caterpillar (天蛾) is no cutworm; waxy streaks under the leaf (粗缩病) are no zinc deficiency.
    for text, ref in (("红苕叶子被一种大肥虫啃光 屁股上有个角", "pest-common-cutworm"),
                      ("苞谷苗矮一截叶子浓绿 叶背有白条条", "maize-zinc-deficiency")):
        result = searcher.search(text)
        assert not (result.answered and result.best is not None and result.best.ref == ref), text
    # 小红虫 is no alias of 红蜘蛛 (the midge's larvae are 小红虫 too): spider mites on wheat are not the midge.
    mites = searcher.search("麦地里好多小红蜘蛛 麦苗叶子上一片灰白点点")
    assert not (mites.answered and mites.best is not None and mites.best.ref == "wheat-blossom-midge")
    assert "铁锈" in searcher._said_signs("豇豆叶子背面好多黄褐色的小点点像铁锈")
    assert answered_with(searcher, "麦子里有吸浆虫咋办") == "wheat-blossom-midge"


def test_near_scores_are_no_tie_when_the_top_article_says_clearly_more_of_the_problem(searcher: Searcher) -> None:
    # Foot rot and the foot-and-mouth vaccine both speak of hooves; only foot rot is about rotting, stinking hooves.
    text = "牛蹄子缝里烂了 臭烘烘的 走路瘸"
    foot_rot = next(e for e in searcher.entries.values() if e.ref == "cattle-foot-rot")
    vaccine = next(e for e in searcher.entries.values() if e.ref == "cattle-fmd-vaccination")
    words = searcher.tokenizer.words(text, heard=True)
    assert searcher._says_more(words, foot_rot, vaccine) and not searcher._says_more(words, vaccine, foot_rot)


def test_a_lambing_article_answers_of_the_newborn_lamb(searcher: Searcher) -> None:
    lambing = next(e for e in searcher.entries.values() if e.ref == "goat-lambing")  # 母羊产羔与接羔护理
    assert searcher._subject_said("羊羔生下来不会吃奶 脐带要剪不", lambing)
    assert not searcher._subject_said("羊拉稀不吃草", lambing)


def test_a_size_like_an_egg_is_no_chicken(searcher: Searcher) -> None:
    assert "鸡" not in searcher.crops_asked(searcher.tokenizer.words("茄子长到鸡蛋大就不长了"))


def test_a_sign_seen_absent_rules_out_the_article_headed_with_it(searcher: Searcher) -> None:
    # 「杆子上没流胶」: yellow dots under the leaves, not the gummosis article; wanting grain 「不霉」 denies nothing.
    result = searcher.search("花椒树叶子背后长好多黄点点 叶子掉光了 杆子上没流胶")
    assert not (result.answered and result.best is not None and result.best.ref == "sichuan-pepper-gummosis")
    gummosis = Entry(0, "x", "花椒流胶病", (), (), "", "")
    assert searcher._denies_title("杆子上没流胶", gummosis) and not searcher._denies_title("花椒树流胶了", gummosis)
    assert not searcher._denies_title("谷子咋存才不霉", Entry(0, "y", "粮食防霉防虫储存", (), (), "", ""))


def test_a_blistered_leaf_needs_an_article_that_says_blister(searcher: Searcher) -> None:
    # Blistered above and felted below (a mite's 毛毡病) is not grape downy mildew, which never says 泡 or 鼓.
    result = searcher.search("葡萄叶子正面鼓起泡泡 背面一层白毛毛像毡子")
    assert not (result.answered and result.best is not None and result.best.ref == "grape-downy-mildew")
    assert "起泡" in searcher._said_signs("茶树嫩叶上起泡 背面白粉")
    assert "起泡" not in searcher._said_signs("茄子挨着地的果子烂成水泡泡")


def test_a_sign_denied_a_character_on_is_not_said(searcher: Searcher) -> None:
    assert "发软" not in searcher._said_signs("番茄屁股上一块黑 凹下去干硬 不是烂软的")
    assert "发软" in searcher._said_signs("番茄屁股上一块黑 是不是烂软的")


def test_a_sign_said_with_not_before_it_is_denied(searcher: Searcher) -> None:
    assert "发臭" not in searcher._said_signs("西红柿屁股黑了一块 不臭")
    assert "发臭" in searcher._said_signs("白菜心烂了 臭得很")
    assert "冻" not in searcher._said_signs("草莓果子上一层白霜") and "冻" in searcher._said_signs("昨晚打霜了")


def test_a_sunken_spot_needs_an_article_that_says_it(searcher: Searcher) -> None:
    ids = {e.ref: e for e in searcher.entries.values()}
    text = "猕猴桃摘下来放几天 一头变软 剥开皮下一块凹下去发白"
    assert searcher._unshown_sign(text, ids["kiwi-storage"]) == "凹陷"
    assert searcher._unshown_sign(text, ids["kiwi-fruit-soft-rot"]) == ""


def test_the_article_headed_with_the_pest_named_comes_before_one_that_is_not(searcher: Searcher) -> None:
    # A citrus article scores close on 柑子 and 果皮; only the snail article is headed with 蜗牛.
    assert answered_with(searcher, "橘子树上好多蜗牛 夜里爬出来啃果子皮 咋弄") == "pest-snails-slugs"


def test_a_kind_of_produce_no_article_makes_is_not_answered_by_another_kind(searcher: Searcher) -> None:
    # The green-tea article is no white tea.
    assert answered_with(searcher, "自家茶叶想做成白茶 咋个晒 要不要炒") == "tea-white-tea-home-processing"
    black = searcher.search("想把夏茶做成红茶 萎凋发酵咋个搞 我只会炒绿茶")  # one kind named is enough
    assert black.best is not None and black.best.ref == "tea-black-tea-home-processing"
    crayfish = searcher.search("想养小龙虾 稻田里养 虾苗好久放")  # not 稻田养鱼
    assert crayfish.best is not None and crayfish.best.ref == "crayfish-rice-field"
    other = searcher.search("茶叶除了红茶绿茶 想试下做白茶 咋晒咋做")  # 除了: the kinds not asked
    assert other.best is not None and other.best.ref == "tea-white-tea-home-processing"


def test_insemination_asked_is_not_answered_by_the_sow_out_of_heat_article(searcher: Searcher) -> None:
    result = searcher.search("母猪闹圈了 屋里冇得公猪 听说可以买精液自己输 咋个输")
    assert not (result.answered and result.best is not None and result.best.ref == "pig-sow-no-heat")


def test_an_article_on_either_of_two_animals_answers_about_one(searcher: Searcher) -> None:
    mastitis = next(e for e in searcher.entries.values() if e.ref == "livestock-mastitis")  # 母羊、母牛乳房炎
    assert searcher._subject_said("母羊奶包一边硬邦邦的 发烫", mastitis)
    assert searcher._subject_said("牛奶包子红肿发硬", mastitis)  # only a cow has an udder
    assert not searcher._subject_said("羊拉稀不吃草", mastitis)


def test_no_droppings_is_not_the_scours_an_article_treats(searcher: Searcher) -> None:
    assert "便秘" in searcher._said_signs("兔子几天冇拉屎了 肚子胀鼓鼓的 不吃草")
    assert "便秘" not in searcher._said_signs("公羊屙尿屙不出来 一滴一滴的")  # the urine, not the bowels
    result = searcher.search("兔子几天冇拉屎了 肚子胀鼓鼓的 不吃草 咋办")
    assert not (result.answered and result.best is not None and result.best.ref == "rabbit-coccidiosis")



def test_a_disease_no_article_covers_is_matched_only_whole(searcher: Searcher) -> None:
    # 毛毡病 (grape erineum mite) shares a character pair with other names: near enough for a typo, not for a
    # name the dictionary knows no article covers.
    assert "毛毡病" in searcher.tokenizer.entities(searcher.tokenizer.words("是毛毡病吗"))
    assert searcher.tokenizer.tags["毛毡病"] == "gap"
    result = searcher.search("葡萄叶子背面一层毛毡 是毛毡病吗")
    assert not result.answered and result.reason == "topic_mismatch"
    whole = next(e for e in searcher.entries.values() if e.ref == "grape-powdery-mildew")
    assert not searcher._headed_with({"毛毡病"}, whole.id)


def test_a_trees_age_is_no_planting_question(searcher: Searcher) -> None:
    words = searcher.tokenizer.words("核桃树栽了七八年了 光开花不结果", heard=True)
    assert "栽" not in words and "七八年" not in words and "结果" in words
    assert "栽" not in searcher.tokenizer.words("柑橘栽了5年不挂果", heard=True)
    assert "栽" in searcher.tokenizer.words("柑橘苗啥时候栽", heard=True)  # asked how to plant: kept
    assert answered_with(searcher, "核桃树栽了七八年了 光开花不结果 结了也掉") == "walnut-no-fruit"


def test_words_typed_or_heard_by_sound(searcher: Searcher) -> None:
    words = searcher.tokenizer.words
    assert "施肥" in words("核桃树啥时候施飞") and "结果" in words("光开花不结国")
    assert "发黄" in words("橘子树页子一片片发簧") and "发酵" in words("咋发孝")
    assert {"生", "虫"} <= set(words("板栗咋放不生冲"))  # 生虫 stays two words, as the articles cut it
    assert searcher.crops_asked(words("阳羽秧子还没黄能挖不")) == {"马铃薯"}
    assert searcher.crops_asked(words("今年养的残子身子发软")) == {"家蚕"}
    assert "干旱" in words("两个月没下雨了 苞谷叶子卷了")


@pytest.mark.parametrize(("ref", "unnamed", "named"), [
    # Foaming after grass sprayed with a pesticide is neither 马桑 nor rat poison: the treatment differs.
    ("goat-coriaria-poisoning", "羊吃了路边打过药的草 口吐白沫站不稳 咋救", "羊子上山吃了马桑叶子 回来倒在地上抽 口吐白沫"),
    ("livestock-rat-poison", "羊误吃了刚打过除草剂的草 口吐白沫 还有救没", "猪吃了老鼠药 口吐白沫 咋办"),
])
def test_a_poisoning_article_answers_only_when_its_poison_is_named(searcher: Searcher, ref: str, unnamed: str,
                                                                   named: str) -> None:
    other = searcher.search(unnamed)
    assert not (other.answered and other.best is not None and other.best.ref == ref)
    said = searcher.search(named)
    assert said.answered and said.best is not None and said.best.ref == ref


def test_filler_words_alone_are_no_question(searcher: Searcher) -> None:
    assert not searcher.search("懂这么多").answered  # 多 alone matched 种鹅多下蛋


def test_an_animal_no_article_covers_is_not_the_pond_articles_water_snake(searcher: Searcher) -> None:
    assert not searcher.search("养蛇赚钱不").answered
    assert answered_with(searcher, "塘里有水蛇吃鱼苗咋办") == "fish-pond-bird-predators"


def test_an_article_about_the_same_problem_on_another_crop_is_no_rival(searcher: Searcher) -> None:
    # An article on another crop that scores higher but is about no word of the question the kiwi article is
    # not about does not make the answer less sure.
    assert answered_with(searcher, "猕猴桃叶子边边焦了 一块块褐的 往下掉") == "kiwi-brown-spot"


@pytest.mark.parametrize(("text", "ref"), [
    ("黄瓜结的瓜是苦的", "veg-cucumber-bitterness"),  # once a sign no article showed (发苦)
    ("鸭蛋想腌成咸蛋 咋个腌 盐放好多", "salted-duck-eggs"),  # once a topic no article covered
    ("苞谷得了粗缩病咋办", "maize-rough-dwarf"),  # once a gap name
    ("荞麦啥时候种", "buckwheat-growing"),  # once the drought article, which mentions 荞麦 in passing
    ("黄连咋个种 搭棚要搭好高", "herb-coptis-growing"),  # once the land-renting article
    ("牛粪能养蚯蚓不 咋养", "earthworm-farming"),  # once a cattle article, for 牛粪
    ("茶叶能做白茶不 咋个做的", "tea-white-tea-home-processing"),  # once the tea blackfly article
    ("养的意蜂咋取蜂王浆", "bee-royal-jelly"),
    ("谷子割了想留再生稻 咋管", "rice-ratoon"),
    ("牛鼻子要穿鼻圈 咋个穿不伤到它", "cattle-nose-ring"),  # once the snail article
])
def test_what_no_article_covered_is_answered_by_the_article_written_for_it(searcher: Searcher, text: str,
                                                                           ref: str) -> None:
    assert answered_with(searcher, text) == ref


@pytest.mark.parametrize("text", ["燕麦啥时候种", "高粱咋个种 搭棚要搭好高", "骡子咋个喂 好养不"])
def test_a_crop_no_article_is_about_is_not_answered_by_a_general_article(searcher: Searcher, text: str) -> None:
    # 荞麦 had the drought article (which mentions it), 黄连 land renting, 养蚯蚓 a cattle article (牛粪), before
    # articles were written for them; these crops still have none.
    result = searcher.search(text)
    assert not result.answered and result.reason == "crop_mismatch"


def test_a_weed_named_for_a_crop_does_not_name_the_crop(searcher: Searcher) -> None:
    assert answered_with(searcher, "麦地里野燕麦猪殃殃多 开春打啥药") == "wheat-weeds"  # 野燕麦 is a weed, not 燕麦 (no article)


def test_a_product_or_task_no_article_covers_is_matched_whole(searcher: Searcher) -> None:
    assert not searcher.search("旧巢脾咋化成蜂蜡").answered
    # 白茶 once matched the pair 「白 茶」 across two words of the tea blackfly article's keywords.
    blackfly = next(e for e in searcher.entries.values() if e.ref == "tea-blackfly")
    assert not searcher._headed_with({"白茶"}, blackfly.id)


def test_a_word_starting_with_bee_is_about_bees(searcher: Searcher) -> None:
    words = searcher.tokenizer.words
    assert searcher.crops_asked(words("蜂箱里好多白虫子 巢脾上牵丝")) == {"蜜蜂"}
    assert searcher.crops_asked(words("叶子被咬得像蜂窝一样")) == set()  # a honeycomb is no hive
    assert answered_with(searcher, "蜂箱里好多白虫子 巢脾上牵丝") == "bee-wax-moth"


@pytest.mark.parametrize("text", ["芋头叶子上长斑 烂了", "蓝莓叶子发红"])
def test_the_only_article_on_a_crop_does_not_answer_a_sign_it_never_mentions(searcher: Searcher, text: str) -> None:
    # How to grow taro says nothing of spots, how to grow blueberries nothing of red leaves.
    result = searcher.search(text)
    assert not result.answered and result.reason == "sign_unshown"


@pytest.mark.parametrize(("text", "ref"), [
    ("麻芋叶子上好多褐色斑点 边边焦枯 一片片死", "konjac-leaf-disease"),  # 麻芋: konjac, as said in the hills
    ("想用牛粪养曲蟮卖给钓鱼的 床子咋个铺", "earthworm-farming"),  # 曲蟮, 地龙: earthworms
    ("癞格宝吃蜂子", "bee-toads-predators"),  # 癞格宝: the toad
    ("樱珠子熟了 捏开里头白蛆在拱", "cherry-fruit-fly"),  # 樱珠: cherries
    ("种的药材能打啥药 怕农残超了收购的不要", "herb-safe-pesticide-use"),  # 药材: the herbs the county grows
    ("瓜秧子中午蔫起 早晚又好了 过几天整根死了", "veg-melon-wilt"),  # 瓜秧: melons and cucumbers
    ("想养地龙卖给钓鱼的 牛粪咋个弄 床咋做", "earthworm-farming"),  # 地龙: earthworms
    ("母牛生了犊子七八个月了还没起性 咋回事", "cattle-cow-no-heat"),  # 起性: 发情 (once the abortion article)
    ("小鹅儿一窝一窝死 拉白稀 打蔫", "goose-parvovirus"),  # 鹅儿: goslings; once the gout article (白色稀屎)
    ("塘里鱼生病了 能用啥药 哪些药不能用", "fish-disease-prevention"),  # once the article on birds eating fish
    ("二花叶子发白 像撒了一层面粉", "herb-honeysuckle-powdery-mildew"),  # 二花: honeysuckle, as the hills say it
    ("黄花条啥时候摘 青的摘还是黄了摘", "herb-lianqiao"),  # 黄花条: forsythia
    ("辣角叶子花花绿绿的 皱缩起 长不高 果子也小", "veg-virus-disease"),  # 辣角: peppers
    ("柑子花苞苞肿得像个小灯笼 发白 不开花就掉了", "citrus-bud-midge"),  # 肿: the article says 膨大
])
def test_dialect_and_kind_names_name_the_crop(searcher: Searcher, text: str, ref: str) -> None:
    assert answered_with(searcher, text) == ref


def test_an_amount_says_how_much_not_what_is_wrong(searcher: Searcher) -> None:
    # 几十只, 两亩, 三四天 once weighed like words no article uses, and the answers went weak.
    words = searcher.tokenizer.words("想养几十只兔子 笼子咋个搭 喂草还是喂料", heard=True)
    assert "几十只" in words
    assert searcher._weight("几十只") < 0.2 * searcher._weight("笼子")


def test_a_sole_hit_in_an_articles_body_is_no_answer(searcher: Searcher) -> None:
    # 「今天几号」 matched only the labour-contract article's body; no crop, nothing of it in what the article is about.
    result = searcher.search("今天几号")
    assert not result.answered and result.reason == "weak"


@pytest.mark.parametrize(("text", "ref"), [
    ("落花生根脚下挖出来白胖胖弯起的虫 把果子啃空了", "peanut-grub"),  # 落花生 once said 落花 (flowers dropping)
    ("包谷心叶卷成喇叭了这时候追肥是不是正好追好多", "maize-topdressing-trumpet-stage"),  # 卷成喇叭: a stage
    ("苞谷苗五六片叶了 还能打除草剂不 怕把苞谷药死", "maize-postemergence-herbicide"),  # 药死: 药害
    ("屋里存的米麦生了好多虫 还有点霉 咋存才好", "farm-grain-storage"),  # 米麦: grain
])
def test_a_sign_or_crop_said_in_other_words_is_understood(searcher: Searcher, text: str, ref: str) -> None:
    assert answered_with(searcher, text) == ref


def test_sweet_potato_slips_are_raised_too(searcher: Searcher) -> None:
    # 育秧 is how villagers raise sweet-potato slips as well as rice seedlings: it names no crop.
    assert answered_with(searcher, "红苕种咋育秧 要不要盖膜") == "sweetpotato-seedling-raising"


def test_a_cold_water_field_is_a_rice_field(searcher: Searcher) -> None:
    words = searcher.tokenizer.words("山沟沟冷水田 秧子栽下去半个月不发", heard=True)
    assert searcher.crops_asked(words) == {"水稻"}


@pytest.mark.parametrize(("text", "ref"), [
    ("冬天牛光喂干草够不 要加啥", "cattle-winter-feeding"),  # 冬/天牛 would be the longhorn beetle
    ("想种点黄姜 杂种", "herb-huangjiang-planting"),  # 杂种 at the end: 咋种, not a hybrid
    ("猪哇好久阉好", "pig-piglet-castration"),  # 猪哇: 猪娃 typed by sound, a piglet
    ("山上茶籽树不结果 杂管", "camellia-oil-growing"),  # 茶籽树: the oil-tea tree, not tea
    ("花生咋种 一窝点几颗 隔好远", "peanut-planting"),  # 一窝/点, not 窝点
])
def test_cuts_jieba_gets_wrong_in_villagers_texts(searcher: Searcher, text: str, ref: str) -> None:
    assert answered_with(searcher, text) == ref


@pytest.mark.parametrize(("text", "words"), [
    ("夏天天牛多", ["夏天", "天牛", "多"]),  # the beetle, after a day word
    ("杂交苞谷种", ["杂交", "玉米", "种"]),
    ("杂种猪好养不", ["杂种", "生猪"]),
    ("母牛生了小牛", ["黄牛", "生", "黄牛"]),  # not 母牛生, a word of jieba's own dictionary
    ("一窝点几颗", ["一", "窝", "点", "几颗"]),  # not 窝点, a den
])
def test_the_beetle_and_the_hybrid_keep_their_names(searcher: Searcher, text: str, words: list[str]) -> None:
    assert searcher.tokenizer.words(text, heard=True) == words


def test_a_pet_is_no_crop_an_article_covers(searcher: Searcher) -> None:
    # 跳蚤 is the flea beetle's local name; a dog's fleas are no vegetable question.
    assert not searcher.search("狗身上好多跳蚤，咋弄干净").answered
    assert answered_with(searcher, "狗吃了老鼠药咋办") == "livestock-rat-poison"


def test_every_feature_has_its_weight(searcher: Searcher) -> None:
    # confidence() zips weights and values loosely (the bias is last): a feature added without its weight
    # would shift every weight after it without an error.
    words, ranked = searcher.rank("柑子叶子上长黄斑 背面起疙瘩")
    found = searcher.features(words, searcher.crops_asked(words), ranked)
    assert found is not None
    assert len(search_module.WEIGHTS) == len(found) + 1
    assert len(search_module.WEIGHTS_MEANING) == len(found) + 2 + 1  # by_meaning's two, then the bias


@pytest.mark.parametrize(("text", "ref"), [
    ("白菜叶子背面密密麻麻的小绿虫 叶子都卷起了", "veg-aphid"),
    ("苞谷天花上密密麻麻的黑虫虫 油汪汪的", "maize-aphid"),
])
def test_a_crowd_of_anything_says_no_problem(searcher: Searcher, text: str, ref: str) -> None:
    # 密密麻麻 (dense) is said of aphids, mites, scale and fruit alike: it must not pull the red-spider-mite
    # article, whose villagers' questions happen to say it, above the aphid articles.
    assert answered_with(searcher, text) == ref


@pytest.mark.parametrize(("text", "ref"), [
    ("五组王嫂养的麻鸭，下蛋时多时少，咋喂能多下", "duck-laying"),
    ("茶页子上鼓泡泡 背面白的", "tea-blister-blight"),
])
def test_no_tie_when_the_first_is_about_more_of_the_problem(searcher: Searcher, text: str, ref: str) -> None:
    # Near in score to another article, but about more of the problem's words and characters: no coin toss.
    assert answered_with(searcher, text) == ref


@pytest.mark.parametrize(("text", "ref"), [
    ("柑子叶子两面都鼓起黄褐色的小疙瘩 摸着粗糙 周围一圈黄晕", "citrus-canker"),  # 黄晕 is canker's, not scab's
    ("魔芋几时下种 种好深", "konjac-planting"),  # not the seed-corm storage article (种芋 is one word)
    ("谷子 杆软 爱倒 咋防", "rice-lodging"),  # the sheath-blight article is no longer keyed on lodging
])
def test_siblings_keep_their_own_signs(searcher: Searcher, text: str, ref: str) -> None:
    assert answered_with(searcher, text) == ref


def test_a_wilt_that_oozes_white_is_no_blight(searcher: Searcher) -> None:
    # Pepper's bacterial wilt has no article; the blight article never speaks of an ooze.
    assert not searcher.search("辣椒大晴天整棵绿着就蔫了 拔起来根不烂 茎切开有白浆").answered
    result = searcher.search("洋芋秧好好的突然蔫了 掐断茎冒白浆")
    assert result.answered and result.best is not None and result.best.ref == "potato-bacterial-wilt"
    assert answered_with(searcher, "冬天果树干子要刷白 那个白浆咋调") == "fruit-winter-cleanup"  # whitewash is also called 白浆


def test_an_article_about_none_of_the_problem_is_no_answer(searcher: Searcher) -> None:
    # The crop alone matched (the weevil article says 红苕 often, and none of 切片, 晒, 发黑): not sure.
    assert not searcher.search("红苕想切片晒成红苕干 咋晒不发黑").answered
    assert not searcher.search("想种银耳 菌包哪里搞 咋管").answered  # 银耳 is no wood ear


def test_an_article_about_the_crop_asked_is_no_tie_with_a_general_one(searcher: Searcher) -> None:
    # Near in score to the article on frost and cold springs for any crop, the walnut one fits better.
    assert answered_with(searcher, "核桃刚发芽就遭霜打了 嫩叶黑了 今年还结不") == "walnut-frost"


def test_a_disease_denied_by_a_shorter_name_is_denied(searcher: Searcher) -> None:
    # 晚疫 is 晚疫病 said without 病: 「不是晚疫那种」 rules the late-blight article out.
    assert searcher.tokenizer.vocab.forms("晚疫病") == ("晚疫病", "晚疫")
    assert not searcher.search("番茄叶子上有一圈一圈的褐斑 下部老叶先起 不是晚疫那种水浸状").answered


def test_sheep_are_no_angora_rabbits(searcher: Searcher) -> None:
    assert searcher.crops_asked(searcher.tokenizer.words("几十只绵羊", heard=True)) == {"山羊"}
    assert not searcher.search("屋里养了几十只绵羊 啥时候剪毛 用啥剪").answered


@pytest.mark.parametrize(("text", "ref"), [
    ("油菜角果黄了好多 啥时候割 怕炸角", "rapeseed-harvest"),  # 角, 角果, 角角: the rapeseed pod (荚)
    ("油菜花开得好好的 就是不结角 光开花", "rapeseed-boron"),
])
def test_rapeseed_pods_by_their_local_name(searcher: Searcher, text: str, ref: str) -> None:
    assert answered_with(searcher, text) == ref


def test_the_afterbirth_by_its_village_names(searcher: Searcher) -> None:
    for text in ("母牛生了小牛一天了 胞衣还挂起没下来", "牛生了一天了衣胞还没下来"):  # 胞衣, 衣胞: 胎衣
        result = searcher.search(text)
        assert result.answered and result.best is not None and result.best.ref == "cattle-retained-placenta"
