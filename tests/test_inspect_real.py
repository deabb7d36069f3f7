"""`insarfusion inspect` on every real input file: the counts and spans of each SOURCE.md."""

import pytest

EXPECTED = {
    # path: (count, epochs, first date, last date)
    "egms_ustica/EGMS_L2b_117_0227_IW2_VV_2020_2024_1.zip": ("11759 points", 207, "2020-01-03", "2024-12-31"),
    "egms_ustica/EGMS_L2b_022_0845_IW2_VV_2020_2024_1.zip": ("11590 points", 210, "2020-01-03", "2024-12-25"),
    "egms_ustica/EGMS_L3_E45N17_100km_U_2020_2024_1.zip": ("522 points", 304, "2020-01-03", "2024-12-25"),
    "egms_ustica/EGMS_L3_E45N17_100km_E_2020_2024_1.zip": ("522 points", 304, "2020-01-03", "2024-12-25"),
    "stamps_maoxian/Maoxian_PS.csv": ("97 points", 41, "2014-11-26", "2017-06-19"),
    "stamps_maoxian/Maoxian_SBAS.csv": ("608 points", 38, "2014-11-26", "2017-06-19"),
    "gnss_ngl_tenv3/MXTM.NA.tenv3": ("1 stations", 548, "2017-06-15", "2019-05-04"),
    "gnss_ngl_tenv3/LHAS.tenv3": ("1 stations", 3631, "1995-05-19", "2007-01-29"),
    "gnss_ngl_tenv3/34A2.tenv3": ("1 stations", 148, "2015-03-20", "2016-10-18"),
    "gnss_ngl_tenv_friuli/BARC.IGS08.tenv.txt": ("1 stations", 1812, "2007-06-06", "2012-06-30"),
    "gnss_ngl_tenv_friuli/CODR.IGS08.tenv.txt": ("1 stations", 4059, "2007-05-18", "2019-09-04"),
    "gnss_ngl_tenv_friuli/MPRA.IGS08.tenv.txt": ("1 stations", 5981, "2002-08-09", "2019-09-04"),
    "gnss_ngl_tenv_friuli/PORD.IGS08.tenv.txt": ("1 stations", 4615, "2006-08-25", "2019-06-30"),
    "gnss_pbo_pos/P156.pbo.final_igs08.pos": ("1 stations", 3196, "2006-06-08", "2015-03-14"),
    "multidefusion_trial_poland/PI03/GNSS.txt": ("1 stations", 425, "2019-03-31", "2021-03-31"),
    "multidefusion_trial_poland/PI16/GNSS.txt": ("1 stations", 576, "2019-02-11", "2021-03-22"),
    "multidefusion_trial_poland/PI03/DInSAR_175.txt": ("1 points", 182, "2017-12-30", "2020-12-20"),
    "multidefusion_trial_poland/PI03/DInSAR_51.txt": ("1 points", 180, "2017-12-28", "2020-12-30"),
    "multidefusion_trial_poland/PI16/DInSAR_10_main.txt": ("1 points", 115, "2019-02-11", "2020-12-26"),
    "multidefusion_trial_poland/PI16/DInSAR_10_2.txt": ("1 points", 115, "2019-02-11", "2020-12-26"),
    "multidefusion_trial_poland/PI16/DInSAR_121_main.txt": ("1 points", 115, "2019-02-09", "2021-01-05"),
    "multidefusion_trial_poland/PI16/DInSAR_121_2.txt": ("1 points", 115, "2019-02-09", "2021-01-05"),
    "multidefusion_trial_poland/PI16/PSI_10_375f.txt": ("1 points", 56, "2018-07-02", "2019-06-27"),
    "multidefusion_trial_poland/PI16/PSI_53_968e.txt": ("1 points", 58, "2018-07-01", "2019-07-08"),
    "multidefusion_trial_poland/PI16/SBAS_121_main.txt": ("1 points", 64, "2018-06-28", "2019-07-11"),
    "multidefusion_trial_poland/PI16/SBAS_121_2.txt": ("1 points", 64, "2018-06-28", "2019-07-11"),
    "multidefusion_trial_poland/PI16/SBAS_53_main.txt": ("1 points", 64, "2018-06-25", "2019-07-14"),
    "gnss_ngl_tenv3": ("3 stations", None, "1995-05-19", "2019-05-04"),
}

IGNORED = {".md", ".md5", ""}


def test_every_real_file_is_listed(real_data):
    files = {str(p.relative_to(real_data)) for p in real_data.rglob("*")
             if p.is_file() and p.suffix not in IGNORED and p.name != "LICENSE"}
    assert files <= set(EXPECTED), sorted(files - set(EXPECTED))


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_inspect_real(rel, real_data, cli):
    count, epochs, start, end = EXPECTED[rel]
    code, out, err = cli("inspect", real_data / rel)
    assert code == 0, err
    assert f"{count}" in out
    if epochs is not None:
        assert f"{count}, {epochs} epochs" in out
    assert f"span:    {start} .. {end}" in out
